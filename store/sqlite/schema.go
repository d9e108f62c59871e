package sqlite

// table is the one table of the store. Its name carries the layout's
// version, so that a later layout lives beside this one and is migrated
// to, never read as this one.
const table = "mesh_records_v1"

// schema creates the table if the database has none. A key is its two
// fields as BLOBs, compared byte for byte: no collation, no padding, NUL
// and invalid UTF-8 kept. A deleted key keeps its row with live = 0 and
// the version its Delete made (a tombstone), so versions never go back.
// The CHECKs refuse, at the source, every row that Load would report as
// corrupt; Load checks again, for files written some other way.
const schema = `CREATE TABLE IF NOT EXISTS ` + table + ` (
	capability BLOB NOT NULL CHECK (typeof(capability) = 'blob'),
	id         BLOB NOT NULL CHECK (typeof(id) = 'blob'),
	version    INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 1),
	live       INTEGER NOT NULL CHECK (live IN (0, 1)),
	type       BLOB NOT NULL CHECK (typeof(type) = 'blob'),
	format     INTEGER NOT NULL CHECK (typeof(format) = 'integer' AND format BETWEEN 0 AND 4294967295),
	data       BLOB NOT NULL CHECK (typeof(data) = 'blob'),
	PRIMARY KEY (capability, id)
)`

// The statements of the store. ?1 and ?2 are always the capability and
// the ID. A NULL (the driver's nil []byte) becomes an empty BLOB.
const (
	// loadSQL reads a key's row.
	loadSQL = `SELECT version, live, type, format, data FROM ` + table + ` WHERE capability = ?1 AND id = ?2`

	// versionSQL reads a key's version, inside a write, to tell a
	// refused write's stored version exactly.
	versionSQL = `SELECT version, live FROM ` + table + ` WHERE capability = ?1 AND id = ?2`

	// insertSQL is the first Save of a key (version 1): it inserts, or
	// does nothing if the key has a row (then stored >= 1 and the Save is
	// stale).
	insertSQL = `INSERT INTO ` + table + ` (capability, id, version, live, type, format, data)
	VALUES (?1, ?2, 1, 1, ifnull(?3, X''), ?4, ifnull(?5, X''))
	ON CONFLICT (capability, id) DO NOTHING`

	// updateSQL is every later Save (?3 >= 2): it writes only over the
	// version before it, so of two writers of one version one changes a
	// row and the other none.
	updateSQL = `UPDATE ` + table + ` SET version = ?3, live = 1, type = ifnull(?4, X''), format = ?5, data = ifnull(?6, X'')
	WHERE capability = ?1 AND id = ?2 AND typeof(version) = 'integer' AND version = ?3 - 1`

	// deleteSQL deletes a live record at version ?3, leaving a tombstone
	// at ?3 + 1. The caller keeps ?3 below the largest integer.
	deleteSQL = `UPDATE ` + table + ` SET version = ?3 + 1, live = 0, type = X'', format = 0, data = X''
	WHERE capability = ?1 AND id = ?2 AND typeof(version) = 'integer' AND version = ?3 AND live = 1`
)
