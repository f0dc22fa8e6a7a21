/* The messages each folder's last sync left on the server because of
 * max_size, so that `gmaildir status` lists them without a connection. */
#include "store/state.h"

#include "store/state_p.h"

int state_held_set(struct state *st, int64_t folder_id, const struct state_held *h, size_t n,
		   struct error *err)
{
	if (state_run_ints(st, SQL_HELD_CLEAR, "DELETE FROM held WHERE folder_id = ?1", &folder_id,
			   1, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const int64_t v[] = {folder_id, h[i].uid, (int64_t)h[i].size};

		if (state_run_ints(
			st, SQL_HELD_ADD,
			"INSERT OR REPLACE INTO held(folder_id, uid, size) VALUES(?1, ?2, ?3)", v,
			3, err) < 0)
			return -1;
	}
	return 0;
}

static void read_held(sqlite3_stmt *s, void *elem)
{
	struct state_held *h = elem;

	h->uid = (uint32_t)sqlite3_column_int64(s, 0);
	h->size = (uint64_t)sqlite3_column_int64(s, 1);
}

static void clear_held(void *elem)
{
	(void)elem;
}

int state_held_load(struct state *st, int64_t folder_id, struct state_held **h_r, size_t *n_r,
		    struct error *err)
{
	void *v = NULL;

	*h_r = NULL;
	*n_r = 0;
	if (state_load_folder_rows(
		st, SQL_HELD_LOAD, "SELECT uid, size FROM held WHERE folder_id = ?1 ORDER BY uid",
		folder_id, sizeof(struct state_held), read_held, clear_held, &v, n_r, err) < 0)
		return -1;
	*h_r = v;
	return 0;
}
