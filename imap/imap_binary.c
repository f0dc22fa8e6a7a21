/* BINARY[] in FETCH answers (RFC 3516), which libetpan 1.9.4 does not
 * know: its parser fails the whole response on the first one. It tries
 * registered extensions for any msg-att it does not know, so this one
 * parses
 *
 *   "BINARY[" [section-part] "]" ["<" number ">"] SP (nstring / literal8)
 *   literal8 = "~{" number "}" CRLF *OCTET
 *
 * A literal8 differs from a literal by its "~" only, so once past it
 * libetpan's own nstring parser reads the value, with the rest of the line
 * after it (that parser is exported, not declared in the installed
 * headers: the prototype below is the one of 1.9.4's mailimap_parser.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_p.h"
#include "util/xalloc.h"

int mailimap_nstring_parse(mailstream *fd, MMAPString *buffer,
			   struct mailimap_parser_context *parser_ctx, size_t *indx, char **result,
			   size_t *result_len, size_t progr_rate, progress_function *progr_fun);

struct imap_binary {
	char *data; /* owned: libetpan's string, mailimap_nstring_free; NULL: NIL */
	size_t len;
	bool whole; /* the section was empty: the whole message */
};

static int binary_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			struct mailimap_parser_context *parser_ctx, size_t *indx,
			struct mailimap_extension_data **result, size_t progr_rate,
			progress_function *progr_fun);
static void binary_free(struct mailimap_extension_data *ext);

static struct mailimap_extension_api binary_ext = {
    .ext_name = "BINARY",
    .ext_id = -1, /* not one of libetpan's */
    .ext_parser = binary_parse,
    .ext_free = binary_free,
};

/* Skips "BINARY[part]<origin> " (and the "~" of a literal8) at *pos of
 * the line; false when the text is something else. */
static bool skip_head(const char *s, size_t len, size_t *pos, bool *whole_r)
{
	size_t p = *pos;

	if (len - p < 8 || strncasecmp(s + p, "BINARY[", 7) != 0)
		return false;
	p += 7;
	*whole_r = s[p] == ']';
	while (p < len && (s[p] == '.' || (s[p] >= '0' && s[p] <= '9')))
		p++;
	if (p >= len || s[p++] != ']')
		return false;
	if (p < len && s[p] == '<') {
		while (++p < len && s[p] >= '0' && s[p] <= '9')
			;
		if (p >= len || s[p++] != '>')
			return false;
	}
	if (p >= len || s[p++] != ' ')
		return false;
	if (p + 1 < len && s[p] == '~' && s[p + 1] == '{')
		p++;
	*pos = p;
	return true;
}

static int binary_parse(int calling_parser, mailstream *fd, MMAPString *buffer,
			struct mailimap_parser_context *parser_ctx, size_t *indx,
			struct mailimap_extension_data **result, size_t progr_rate,
			progress_function *progr_fun)
{
	size_t pos = *indx, len = 0;
	char *data = NULL;
	bool whole;
	struct imap_binary *b;
	int r;

	if (calling_parser != MAILIMAP_EXTENDED_PARSER_FETCH_DATA ||
	    !skip_head(buffer->str, buffer->len, &pos, &whole))
		return MAILIMAP_ERROR_PARSE;
	r = mailimap_nstring_parse(fd, buffer, parser_ctx, &pos, &data, &len, progr_rate,
				   progr_fun);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	b = xmalloc(sizeof(*b));
	*b = (struct imap_binary){.data = data, .len = len, .whole = whole};
	*result = mailimap_extension_data_new(&binary_ext, 0, b);
	if (!*result)
		abort(); /* allocation does not fail to the caller */
	*indx = pos;
	return MAILIMAP_NO_ERROR;
}

static void binary_free(struct mailimap_extension_data *ext)
{
	struct imap_binary *b = ext ? ext->ext_data : NULL;

	if (b)
		mailimap_nstring_free(b->data);
	free(b);
	free(ext);
}

static void binary_register_once(void)
{
	if (mailimap_extension_register(&binary_ext) != MAILIMAP_NO_ERROR)
		abort();
}

void imap_binary_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, binary_register_once);
}

bool imap_binary_whole(const struct mailimap_msg_att *att, const char **data_r, size_t *len_r)
{
	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_extension_data *ext = item->att_data.att_extension_data;
		const struct imap_binary *b;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_EXTENSION || !ext ||
		    ext->ext_extension != &binary_ext || !(b = ext->ext_data) || !b->whole ||
		    !b->data)
			continue;
		*data_r = b->data;
		*len_r = b->len;
		return true;
	}
	return false;
}
