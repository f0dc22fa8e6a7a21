/* How the daemon spends an account's connection budget (`max_connections`)
 * across its roles, so that the server never sees more than the budget:
 * SMTP (when configured) and the sync keep one connection each; IDLE gets
 * what is left, one per folder; when the folders to push outnumber it,
 * one more connection polls the rest with STATUS and IDLE gets one less;
 * the sync's parallel connections take what IDLE leaves. Pure. */
#ifndef GMAILDIR_DAEMON_BUDGET_H
#define GMAILDIR_DAEMON_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

struct budget {
	size_t idle; /* folders with an IDLE connection (the first ones) */
	size_t sync; /* the sync's connections at most (>= 1) */
	bool poller; /* one connection polls the folders beyond idle */
	bool smtp;   /* one connection is kept for SMTP */
};

/* max: the budget (>= 2); n_idle: folders the config asks IDLE for;
 * connections: the sync's wish (`connections`); smtp: SMTP configured. */
void budget_split(unsigned max, size_t n_idle, unsigned connections, bool smtp, struct budget *b_r);
/* Connections the split may hold at once (<= max). */
size_t budget_total(const struct budget *b);

#endif
