/* Keys kept on disk after the server deleted their message (config
 * remote_deletions: keep): never uploaded again. */
#include "store/state.h"

#include <stdlib.h>

#include "store/state_p.h"

int state_local_only_add(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	return state_run_id_text(st, SQL_LOCAL_ONLY_ADD,
				 "INSERT OR IGNORE INTO local_only(folder_id, key) VALUES(?1, ?2)",
				 folder_id, key, NULL, err);
}

int state_local_only_delete(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	return state_run_id_text(st, SQL_LOCAL_ONLY_DELETE,
				 "DELETE FROM local_only WHERE folder_id = ?1 AND key = ?2",
				 folder_id, key, NULL, err);
}

int state_local_only_has(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	int row = -1;

	if (state_run_id_text(st, SQL_LOCAL_ONLY_HAS,
			      "SELECT 1 FROM local_only WHERE folder_id = ?1 AND key = ?2",
			      folder_id, key, &row, err) < 0)
		return -1;
	return row;
}

int state_local_only_load(struct state *st, int64_t folder_id, char ***keys_r, size_t *n_r,
			  struct error *err)
{
	return state_load_folder_names(
	    st, SQL_LOCAL_ONLY_LOAD, "SELECT key FROM local_only WHERE folder_id = ?1 ORDER BY key",
	    folder_id, keys_r, n_r, err);
}

void state_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}
