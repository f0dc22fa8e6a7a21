/* Reading what the engine needs from a raw RFC 5322 message: pure
 * functions over a buffer, no I/O. */
#ifndef GMAILDIR_IMAP_MESSAGE_H
#define GMAILDIR_IMAP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Message-ID header's value ("<...>", folded lines joined, surrounding
 * white space removed), from the header section only (it ends at the first
 * empty line, with CRLF or LF line ends). Returns a malloc'd string, never
 * empty, or NULL when there is none, it is longer than 998 bytes or it holds
 * a NUL byte. */
char *message_id_get(const char *data, size_t len);

/* Receives the normalised header section of a message, piece by piece. */
typedef void message_sink_fn(const char *p, size_t n, void *ctx);

/* What stays the same of one message whatever tool stored it, so that a
 * copy mbsync, OfflineIMAP or a mail reader wrote can be recognised as the
 * server's message without reading the server's body. sink receives the
 * header section (up to the empty line that ends it) with every line end
 * made LF, a leading mbox "From " line left out, and the fields that mail
 * tools add to their own copies left out with their continuation lines:
 * X-TUID (mbsync), X-OfflineIMAP, Status, X-Status, X-Keywords, X-UID,
 * X-IMAP, X-IMAPbase, X-Mozilla-Status, X-Mozilla-Status2, X-Mozilla-Keys,
 * Content-Length and Lines (mbox writers). Returns the size the body
 * (what follows the empty line; nothing when there is none) has with CRLF
 * line ends, which is how RFC822.SIZE counts: an LF not preceded by CR
 * counts two bytes. For the server's side, pass BODY[HEADER]: its body
 * size is RFC822.SIZE minus the header's length. */
uint64_t message_normalise(const char *data, size_t len, message_sink_fn *sink, void *ctx);

/* True when data holds a byte 0x80 that is not part of a well-formed
 * UTF-8 sequence: where Dovecot's BODY[] may show a NUL of the stored
 * message (it sends 0x80 for NUL), so BINARY[] is worth asking for. UTF-8
 * text, whose continuation bytes include 0x80, is not suspect. Pure. */
bool message_has_stray_0x80(const char *data, size_t len);

#endif
