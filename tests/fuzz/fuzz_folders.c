/* Fuzzes the folder name mapping of imap/folders.h. The first byte picks
 * the hierarchy delimiter, the rest is a name, tried both ways:
 *  - as a remote wire name: folder_local_path's result is a safe relative
 *    path (no leading '/', no empty, ".", ".." or cur/new/tmp component, no
 *    component starting with '.', no control character) and
 *    folder_remote_name gives the name back (INBOX in capitals);
 *  - as a local path: what folder_remote_name accepts maps back to exactly
 *    that path (the mapping is a bijection);
 *  - folder_display_name never lets a control character through;
 *  - the same two ways for the Maildir++ layout: a path is "." or one dot
 *    directory (no '/', no empty component, no control character, not
 *    ".INBOX"), and the mapping is a bijection too. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <strings.h>

#include "imap/folders.h"

/* '/' and '.' are what servers use; the others probe the corners: none,
 * a base64 letter, '&' (the UTF-7 shift), '%' (our escape), a space. */
static const char delims[] = {'/', '.', '\0', 'A', '&', '%', ' ', '\\'};

static bool bad_component(const char *c, size_t n)
{
	static const char *const reserved[] = {"cur", "new", "tmp", "..", "."};

	if (n == 0 || c[0] == '.')
		return true;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == n && memcmp(c, reserved[i], n) == 0)
			return true;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			return true;
	return false;
}

static void check_safe_path(const char *remote, const char *path)
{
	const char *p = path;

	FUZZ_CHECK(path[0] != '/', "\"%s\" -> absolute \"%s\"", remote, path);
	for (;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		FUZZ_CHECK(!bad_component(p, n), "\"%s\" -> unsafe \"%s\"", remote, path);
		if (!end)
			break;
		p = end + 1;
	}
}

/* remote with its first component made "INBOX" when it is INBOX in any
 * case: what a round trip through a local path gives back. */
static char *expected_remote(const char *remote, char delim)
{
	char *want = strdup(remote);
	size_t first = delim ? strcspn(remote, (char[]){delim, '\0'}) : strlen(remote);

	if (!want)
		abort();
	if (first == 5 && strncasecmp(want, "INBOX", 5) == 0)
		memcpy(want, "INBOX", 5);
	return want;
}

static void check_remote(const char *remote, char delim)
{
	char *path = NULL, *back = NULL, *want;

	if (folder_local_path(remote, delim, &path) < 0)
		return;
	check_safe_path(remote, path);
	FUZZ_CHECK(folder_remote_name(path, delim, &back) == 0, "\"%s\" -> \"%s\" has no remote",
		   remote, path);
	want = expected_remote(remote, delim);
	FUZZ_CHECK(strcmp(back, want) == 0, "\"%s\" -> \"%s\" -> \"%s\"", remote, path, back);
	free(want);
	free(path);
	free(back);
}

static void check_local(const char *path, char delim)
{
	char *remote = NULL, *again = NULL;

	if (folder_remote_name(path, delim, &remote) < 0)
		return;
	FUZZ_CHECK(folder_local_path(remote, delim, &again) == 0, "\"%s\" -> \"%s\" is invalid",
		   path, remote);
	FUZZ_CHECK(strcmp(again, path) == 0, "\"%s\" -> \"%s\" -> \"%s\"", path, remote, again);
	free(remote);
	free(again);
}

static void check_display(const char *remote, char delim)
{
	char *name = NULL;

	if (folder_display_name(remote, delim, &name) < 0)
		return;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "control byte in \"%s\"", remote);
		FUZZ_CHECK(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f), "C1 control shown");
	}
	free(name);
}

/* A Maildir++ path: the root, or one dot directory of it. */
static void check_safe_pp_path(const char *remote, const char *path)
{
	const char *p = path + 1;

	FUZZ_CHECK(path[0] == '.' && !strchr(path, '/'), "\"%s\" -> unsafe \"%s\"", remote, path);
	if (!*p)
		return;
	FUZZ_CHECK(strcmp(p, "INBOX") != 0, "\"%s\" -> a second INBOX", remote);
	for (;;) {
		const char *end = strchr(p, '.');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		FUZZ_CHECK(n > 0, "\"%s\" -> empty component in \"%s\"", remote, path);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f,
				   "\"%s\" -> control byte in \"%s\"", remote, path);
		if (!end)
			break;
		p = end + 1;
	}
}

static void check_pp(const char *s, char delim)
{
	char *path = NULL, *back = NULL, *want, *remote = NULL, *again = NULL;

	if (folder_layout_local_path(LAYOUT_MAILDIRPP, s, delim, &path) == 0) {
		check_safe_pp_path(s, path);
		FUZZ_CHECK(folder_layout_remote_name(LAYOUT_MAILDIRPP, path, delim, &back) == 0,
			   "\"%s\" -> \"%s\" has no remote", s, path);
		want = expected_remote(s, delim);
		FUZZ_CHECK(strcmp(back, want) == 0, "\"%s\" -> \"%s\" -> \"%s\"", s, path, back);
		free(want);
	}
	if (folder_layout_remote_name(LAYOUT_MAILDIRPP, s, delim, &remote) == 0) {
		FUZZ_CHECK(folder_layout_local_path(LAYOUT_MAILDIRPP, remote, delim, &again) == 0,
			   "\"%s\" -> \"%s\" is invalid", s, remote);
		FUZZ_CHECK(strcmp(again, s) == 0, "\"%s\" -> \"%s\" -> \"%s\"", s, remote, again);
	}
	free(path);
	free(back);
	free(remote);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char delim;
	char *s;

	if (size == 0)
		return 0;
	delim = delims[data[0] % sizeof(delims)];
	s = fuzz_cstr(data + 1, size - 1);
	check_remote(s, delim);
	check_local(s, delim);
	check_display(s, delim);
	check_pp(s, delim);
	free(s);
	return 0;
}
