/* Table cells for a person's terminal: names printed safely and padded by
 * the columns they take on screen, not by their bytes, so "Entwürfe",
 * "日本語" and the arrows of a header line up with plain ASCII. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/textwidth.h"

void cli_cell(const char *s, int width)
{
	char *clean = textwidth_clean(s);
	int cols = (int)textwidth(clean), pad = (width < 0 ? -width : width) - cols;

	if (width > 0)
		printf("%*s", pad > 0 ? pad : 0, "");
	fputs(clean, stdout);
	if (width < 0)
		printf("%*s", pad > 0 ? pad : 0, "");
	free(clean);
}

int cli_columns(const char *s)
{
	return (int)textwidth(s);
}
