/* peer_probe: what peer_state_read() finds for one Maildir folder, for the
 * integration tests of store/peer_state.
 *
 *   peer_probe FOLDER_PATH REL SERVER_NAME UIDVALIDITY HOME
 *
 * Prints "TOOL SOURCE" then one "UID UNIQUE FLAGS" line per record, UNIQUE
 * "-" when no file carries it and FLAGS the Maildir letters ("-" for none);
 * or "none: REASONS". Exit 0 found or none, 1 on error, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>

#include "store/maildir_name.h"
#include "store/peer_state.h"

int main(int argc, char **argv)
{
	struct error err = {0};
	struct peer_state *ps = NULL;
	char why[2048];

	if (argc != 6) {
		fprintf(stderr, "usage: peer_probe FOLDER_PATH REL SERVER_NAME UIDVALIDITY HOME\n");
		return 2;
	}
	struct peer_folder f = {argv[1], argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10),
				argv[5]};
	int rc = peer_state_read(&f, &ps, why, sizeof(why), &err);
	if (rc < 0) {
		fprintf(stderr, "peer_probe: %s\n", err.msg);
		return 1;
	}
	if (rc == 0) {
		printf("none: %s\n", why);
		return 0;
	}
	printf("%s %s\n", peer_tool_name(ps->tool), ps->source);
	for (size_t i = 0; i < ps->n; i++) {
		char letters[MAILDIR_UNKNOWN_MAX + 8];
		maildir_flags_to_letters(ps->recs[i].flags, "", letters, sizeof(letters));
		printf("%u %s %s\n", ps->recs[i].uid, ps->recs[i].unique ? ps->recs[i].unique : "-",
		       letters[0] ? letters : "-");
	}
	peer_state_free(&ps);
	return 0;
}
