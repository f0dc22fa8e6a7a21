/* COMPRESS=DEFLATE (RFC 4978) as a codec: raw DEFLATE (no zlib header,
 * RFC 1951) both ways, for the transport (net/tls.h) to stack between
 * its socket and the IMAP parser. Debian's libetpan is built without
 * zlib, so its own compression layer cannot be used (LIBETPAN.md §9).
 *
 * Every packed chunk ends with a sync flush: what the client writes (a
 * command, IDLE's DONE) reaches the server whole at once, never held
 * back in the compressor. No I/O here: bytes in, bytes out. */
#ifndef GMAILDIR_NET_DEFLATE_H
#define GMAILDIR_NET_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct deflate_codec;

/* Never fails (aborts on OOM like every allocation here). */
struct deflate_codec *deflate_codec_new(void);
/* Accepts NULL; NULLs *z. */
void deflate_codec_free(struct deflate_codec **z);

/* Compresses n bytes and flushes. *out_r / *out_len_r: the compressed
 * bytes, borrowed until the next call. Returns 0, -1 (zlib failed). */
int deflate_codec_pack(struct deflate_codec *z, const void *in, size_t n,
		       const unsigned char **out_r, size_t *out_len_r);

/* Hands n compressed bytes from the server to the codec (copied). Call
 * only when deflate_codec_unpack last returned 0 (it wants more). */
void deflate_codec_feed(struct deflate_codec *z, const void *in, size_t n);
/* Decompresses into buf: the number of bytes (> 0), 0 when it needs more
 * input, -1 when the stream is corrupt or ended. */
ssize_t deflate_codec_unpack(struct deflate_codec *z, void *buf, size_t cap);
/* True when unpack could produce bytes without more input (IDLE must
 * not sleep in poll() then). */
bool deflate_codec_pending(const struct deflate_codec *z);

/* Bytes through the codec so far, each way (for the bench and tests). */
void deflate_codec_counts(const struct deflate_codec *z, unsigned long long *plain_out,
			  unsigned long long *wire_out, unsigned long long *wire_in,
			  unsigned long long *plain_in);

#endif
