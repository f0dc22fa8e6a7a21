/* Raw DEFLATE both ways with zlib (net/deflate.h). */
#include "net/deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/xalloc.h"

struct deflate_codec {
	z_stream out;	       /* ours to the server */
	z_stream in;	       /* the server's to us */
	unsigned char *packed; /* owned: the last pack's output */
	size_t packed_cap;
	unsigned char *fed; /* owned: compressed input not inflated yet */
	size_t fed_len, fed_pos, fed_cap;
	bool starved; /* the last unpack consumed everything it could */
	bool full;    /* the last unpack filled the caller's buffer */
	bool ended;   /* the server's stream ended or broke */
	unsigned long long plain_out, wire_out, wire_in, plain_in;
};

struct deflate_codec *deflate_codec_new(void)
{
	struct deflate_codec *z = xcalloc(1, sizeof(*z));

	/* -15: raw DEFLATE with a 32 KB window, as RFC 4978 requires. */
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
		Z_OK ||
	    inflateInit2(&z->in, -15) != Z_OK)
		abort(); /* only Z_MEM_ERROR is possible here */
	return z;
}

void deflate_codec_free(struct deflate_codec **zp)
{
	struct deflate_codec *z = *zp;

	if (!z)
		return;
	deflateEnd(&z->out);
	inflateEnd(&z->in);
	free(z->packed);
	free(z->fed);
	free(z);
	*zp = NULL;
}

int deflate_codec_pack(struct deflate_codec *z, const void *in, size_t n,
		       const unsigned char **out_r, size_t *out_len_r)
{
	/* The bound of the data plus a sync flush's empty block (5 bytes)
	 * and some: one deflate call with Z_SYNC_FLUSH then always fits. */
	size_t need = deflateBound(&z->out, (uLong)n) + 16;
	int r;

	if (need > z->packed_cap) {
		free(z->packed);
		z->packed = xmalloc(need);
		z->packed_cap = need;
	}
	z->out.next_in = (Bytef *)(uintptr_t)in;
	z->out.avail_in = (uInt)n;
	z->out.next_out = z->packed;
	z->out.avail_out = (uInt)z->packed_cap;
	r = deflate(&z->out, Z_SYNC_FLUSH);
	if ((r != Z_OK && r != Z_BUF_ERROR) || z->out.avail_in != 0)
		return -1;
	*out_r = z->packed;
	*out_len_r = z->packed_cap - z->out.avail_out;
	z->plain_out += n;
	z->wire_out += *out_len_r;
	return 0;
}

void deflate_codec_feed(struct deflate_codec *z, const void *in, size_t n)
{
	/* What was inflated already is dropped first. */
	if (z->fed_pos > 0) {
		memmove(z->fed, z->fed + z->fed_pos, z->fed_len - z->fed_pos);
		z->fed_len -= z->fed_pos;
		z->fed_pos = 0;
	}
	z->fed = xgrow(z->fed, &z->fed_cap, z->fed_len + n, 1);
	memcpy(z->fed + z->fed_len, in, n);
	z->fed_len += n;
	z->wire_in += n;
	z->starved = false;
}

ssize_t deflate_codec_unpack(struct deflate_codec *z, void *buf, size_t cap)
{
	size_t made;
	int r;

	if (z->ended)
		return -1;
	z->in.next_in = z->fed + z->fed_pos;
	z->in.avail_in = (uInt)(z->fed_len - z->fed_pos);
	z->in.next_out = buf;
	z->in.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
	r = inflate(&z->in, Z_SYNC_FLUSH);
	made = (size_t)((unsigned char *)z->in.next_out - (unsigned char *)buf);
	z->fed_pos = z->fed_len - z->in.avail_in;
	z->full = z->in.avail_out == 0;
	if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR)) {
		/* A server never ends its stream while the session lives. */
		z->ended = true;
		return made > 0 ? (ssize_t)made : -1;
	}
	z->starved = made == 0 || z->in.avail_in == 0;
	z->plain_in += made;
	return (ssize_t)made;
}

bool deflate_codec_pending(const struct deflate_codec *z)
{
	return z->full || (!z->starved && z->fed_pos < z->fed_len);
}

void deflate_codec_counts(const struct deflate_codec *z, unsigned long long *plain_out,
			  unsigned long long *wire_out, unsigned long long *wire_in,
			  unsigned long long *plain_in)
{
	*plain_out = z->plain_out;
	*wire_out = z->wire_out;
	*wire_in = z->wire_in;
	*plain_in = z->plain_in;
}
