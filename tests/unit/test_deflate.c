/* Unit tests of net/deflate: what one codec packs, another unpacks byte
 * for byte, whatever the chunking on the wire; each pack is complete on
 * its own (the sync flush: a command is never held back); pending says
 * when bytes wait without more input; a corrupt stream is an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/deflate.h"

/* Text that compresses, with some noise. */
static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	static const char words[] = "Subject: the quarterly report\r\nFrom: alice@example.com\r\n";

	for (size_t i = 0; i < n; i++)
		buf[i] = (i % 97 == 0) ? (unsigned char)((seed = seed * 1103515245 + 12345) >> 16)
				       : (unsigned char)words[i % (sizeof(words) - 1)];
}

static void test_round_trip_any_chunking(void **state)
{
	struct deflate_codec *tx = deflate_codec_new(), *rx = deflate_codec_new();
	size_t n = 300000, got = 0, wire_total = 0;
	unsigned char *plain = malloc(n), *back = malloc(n + 16);
	unsigned seed = 7;

	(void)state;
	fill(plain, n, 3);
	/* Written in pieces of varying size, as libetpan flushes commands. */
	for (size_t off = 0; off < n;) {
		size_t piece = 1 + (size_t)((seed = seed * 1103515245 + 12345) >> 16) % 9000;
		const unsigned char *out;
		size_t len;

		if (piece > n - off)
			piece = n - off;
		assert_int_equal(deflate_codec_pack(tx, plain + off, piece, &out, &len), 0);
		wire_total += len;
		/* Fed to the other side a few bytes at a time. */
		for (size_t k = 0; k < len;) {
			size_t bite = 1 + (size_t)((seed = seed * 1103515245 + 12345) >> 16) % 700;
			ssize_t r;

			if (bite > len - k)
				bite = len - k;
			deflate_codec_feed(rx, out + k, bite);
			k += bite;
			while ((r = deflate_codec_unpack(rx, back + got, n + 16 - got)) > 0)
				got += (size_t)r;
			assert_true(r == 0);
		}
		off += piece;
		/* The sync flush: everything packed so far is out already. */
		assert_int_equal(got, off);
		assert_false(deflate_codec_pending(rx));
	}
	assert_memory_equal(plain, back, n);
	assert_true(wire_total < n / 2);
	free(plain);
	free(back);
	deflate_codec_free(&tx);
	deflate_codec_free(&rx);
	assert_null(tx);
}

static void test_pending_when_buffer_small(void **state)
{
	struct deflate_codec *tx = deflate_codec_new(), *rx = deflate_codec_new();
	const char *line = "* 3 EXISTS\r\n* 1 RECENT\r\n";
	const unsigned char *out;
	size_t len;
	char small[4], all[64] = "";
	size_t got = 0;
	ssize_t r;

	(void)state;
	assert_int_equal(deflate_codec_pack(tx, line, strlen(line), &out, &len), 0);
	deflate_codec_feed(rx, out, len);
	r = deflate_codec_unpack(rx, small, sizeof(small));
	assert_int_equal(r, (ssize_t)sizeof(small));
	/* More is there without reading the socket: IDLE must not sleep. */
	assert_true(deflate_codec_pending(rx));
	memcpy(all, small, sizeof(small));
	got = sizeof(small);
	while ((r = deflate_codec_unpack(rx, all + got, sizeof(all) - 1 - got)) > 0)
		got += (size_t)r;
	assert_int_equal(r, 0);
	assert_string_equal(all, line);
	assert_false(deflate_codec_pending(rx));
	deflate_codec_free(&tx);
	deflate_codec_free(&rx);
}

static void test_corrupt_stream(void **state)
{
	struct deflate_codec *rx = deflate_codec_new();
	/* 0xff: a block type of 3, which DEFLATE does not have. */
	const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff};
	char buf[16];

	(void)state;
	deflate_codec_feed(rx, junk, sizeof(junk));
	assert_int_equal(deflate_codec_unpack(rx, buf, sizeof(buf)), -1);
	assert_int_equal(deflate_codec_unpack(rx, buf, sizeof(buf)), -1);
	deflate_codec_free(&rx);
	deflate_codec_free(&rx); /* NULL is fine */
}

static void test_counts(void **state)
{
	struct deflate_codec *tx = deflate_codec_new(), *rx = deflate_codec_new();
	unsigned char plain[20000], back[20000];
	const unsigned char *out;
	unsigned long long po, wo, wi, pi;
	size_t len;

	(void)state;
	fill(plain, sizeof(plain), 1);
	assert_int_equal(deflate_codec_pack(tx, plain, sizeof(plain), &out, &len), 0);
	deflate_codec_feed(rx, out, len);
	assert_int_equal(deflate_codec_unpack(rx, back, sizeof(back)), (ssize_t)sizeof(plain));
	deflate_codec_counts(tx, &po, &wo, &wi, &pi);
	assert_int_equal(po, sizeof(plain));
	assert_int_equal(wo, len);
	deflate_codec_counts(rx, &po, &wo, &wi, &pi);
	assert_int_equal(wi, len);
	assert_int_equal(pi, sizeof(plain));
	deflate_codec_free(&tx);
	deflate_codec_free(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_any_chunking),
	    cmocka_unit_test(test_pending_when_buffer_small),
	    cmocka_unit_test(test_corrupt_stream),
	    cmocka_unit_test(test_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
