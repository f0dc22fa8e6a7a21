#include "daemon/budget.h"

void budget_split(unsigned max, size_t n_idle, unsigned connections, bool smtp, struct budget *b_r)
{
	/* Below 3, SMTP shares: a budget of 2 is IMAP's (sync and IDLE). */
	size_t avail = max < 2 ? 2 : max;

	b_r->smtp = smtp && avail > 2;
	if (b_r->smtp)
		avail--;
	if (n_idle + 1 <= avail) {
		size_t left = avail - n_idle;

		b_r->idle = n_idle;
		b_r->poller = false;
		b_r->sync = connections < 1 ? 1 : connections < left ? connections : left;
		return;
	}
	b_r->poller = true;
	b_r->idle = avail - 2;
	b_r->sync = 1;
}

size_t budget_total(const struct budget *b)
{
	return b->idle + b->sync + (b->poller ? 1 : 0) + (b->smtp ? 1 : 0);
}
