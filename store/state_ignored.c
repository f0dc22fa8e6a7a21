/* The files each folder's last scan ignored as not Maildir messages, so
 * that `gmaildir status` names them without scanning. */
#include "store/state.h"

#include "store/state_p.h"

int state_ignored_set(struct state *st, int64_t folder_id, char *const *names, size_t n,
		      struct error *err)
{
	if (state_run_ints(st, SQL_IGNORED_CLEAR, "DELETE FROM ignored WHERE folder_id = ?1",
			   &folder_id, 1, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (state_run_id_text(
			st, SQL_IGNORED_ADD,
			"INSERT OR IGNORE INTO ignored(folder_id, name) VALUES(?1, ?2)", folder_id,
			names[i], NULL, err) < 0)
			return -1;
	return 0;
}

int state_ignored_load(struct state *st, int64_t folder_id, char ***names_r, size_t *n_r,
		       struct error *err)
{
	*names_r = NULL;
	*n_r = 0;
	return state_load_folder_names(
	    st, SQL_IGNORED_LOAD, "SELECT name FROM ignored WHERE folder_id = ?1 ORDER BY name",
	    folder_id, names_r, n_r, err);
}
