/* Plain-language help for the failures people meet most, shown under the
 * server's own text (which is always shown first, unchanged). */
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
