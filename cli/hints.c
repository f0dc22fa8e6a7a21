/* Plain-language help for the failures people meet most, shown under the
 * server's own text (which is always shown first, unchanged). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct hint {
	const char *needle;
	const char *text;
};

#define LOGIN_REFUSED                                                                              \
	"The server refused the login: check the password (for Gmail an App Password),\n"          \
	"  or, with auth: xoauth2, that oauth2_token_command prints a fresh access token\n"        \
	"  with the scope https://mail.google.com/."

static const struct hint hints[] = {
    {"Application-specific password required",
     "Gmail wants an App Password, not your account password: turn on 2-Step\n"
     "  Verification, create one at https://myaccount.google.com/apppasswords,\n"
     "  and have password_command print it."},
    {"IMAP access is disabled",
     "Turn on IMAP in Gmail: Settings > See all settings > Forwarding and POP/IMAP."},
    {"Invalid credentials", LOGIN_REFUSED},
    {"AUTHENTICATIONFAILED", LOGIN_REFUSED},
    {"certificate verify failed",
     "The server's certificate is not trusted: if it is your own server, set ca_file\n"
     "  to the CA that signed it; never turn verification off."},
    {"host name mismatch",
     "The certificate is for another name: use the host name it was issued for."},
    {"does not offer STARTTLS",
     "The server offers no STARTTLS: use tls: implicit on its TLS port (usually 993)."},
};

const char *cli_hint_text(const char *message)
{
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strstr(message, hints[i].needle))
			return hints[i].text;
	return NULL;
}

void cli_hint(const char *message)
{
	const char *text = cli_hint_text(message);

	if (text)
		fprintf(stderr, "  hint: %s\n", text);
}

/* Whether word ("--port" or "--port=...") names a long option that takes
 * a value. */
static bool needs_value(const char *word, const struct option *longopts)
{
	size_t len = strcspn(word + 2, "=");

	for (; longopts && longopts->name; longopts++)
		if (strlen(longopts->name) == len && strncmp(longopts->name, word + 2, len) == 0)
			return longopts->has_arg == required_argument;
	return false;
}

/* The complaint about the option getopt_long stopped at, in *what and
 * the option's spelling in opt. */
static const char *complaint(char **argv, const char *shorts, const struct option *longopts,
			     char *opt, size_t size)
{
	const char *word = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
	bool is_long = strncmp(word, "--", 2) == 0;

	if (is_long)
		snprintf(opt, size, "%.*s", (int)strcspn(word, "="), word);
	/* (A word that is not the culprit: an option further on in a group of
	 * short ones, "-nx", while optind still points at the word before.) */
	if (is_long && optopt == 0)
		return "unknown option";
	if (is_long && needs_value(word, longopts))
		return "a value is needed after";
	if (is_long && strchr(word, '='))
		return "no value is taken by";
	snprintf(opt, size, "-%c", optopt > ' ' && optopt < 0x7f ? optopt : '?');
	if (optopt && strchr(shorts, optopt))
		return "a value is needed after";
	return "unknown option";
}

int cli_bad_option(const char *cmd, char **argv, const char *shorts, const struct option *longopts)
{
	char opt[64];
	const char *what = complaint(argv, shorts, longopts, opt, sizeof(opt));

	if (cmd)
		fprintf(stderr, "gmaildir: %s: %s '%s'; see gmaildir help %s\n", cmd, what, opt,
			cmd);
	else
		fprintf(stderr, "gmaildir: %s '%s'; see gmaildir help\n", what, opt);
	return EXIT_USAGE;
}
