/* Reading what the engine needs from a raw RFC 5322 message: pure
 * functions over a buffer, no I/O. */
#ifndef GMAILDIR_SYNC_MESSAGE_H
#define GMAILDIR_SYNC_MESSAGE_H

#include <stddef.h>

/* The Message-ID header's value ("<...>", folded lines joined, surrounding
 * white space removed), from the header section only (it ends at the first
 * empty line, with CRLF or LF line ends). Returns a malloc'd string, never
 * empty, or NULL when there is none, it is longer than 998 bytes or it holds
 * a NUL byte. */
char *message_id_get(const char *data, size_t len);

#endif
