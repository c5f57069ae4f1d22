// FerretDB 1.x (MongoDB wire protocol) with its SQLite backend, built from the module source into
// the cache. FerretDB 1.x has no multi-document transactions and no change streams.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged, running, startDetached, waitUntil } from './process.mjs';
import { mongoReady, tcpOpen } from './probes.mjs';
import { SORTED_PAGE_PATCHES } from './ferretdb-sorted-pages.mjs';

const MODULE_ROOT = 'github.com/FerretDB/FerretDB';
const binOf = (f) => join(f.home, 'bin', 'ferretdb');
const stampOf = (f) => join(f.home, 'bin', 'patches.txt');

/**
 * Fixes to the SQLite backend of FerretDB 1.24, applied to the module source before the build
 * (the files are then the module's own plus these edits; the stamp names them so a build without
 * them is rebuilt):
 * - `_id` lookups use the `_id` index. The backend queries `_ferretdb_sjson->'$._id'` while the
 *   unique index it creates is on `_ferretdb_sjson->"_id"`; SQLite matches index expressions as
 *   written, so every lookup, update and delete by `_id` scanned the whole table.
 * - a filter that holds `_id: <string>` or `_id: {$in: [<string>...]}` next to other conditions is
 *   narrowed by `_id` in SQL too (the handler still applies the whole filter to what comes back);
 *   before, only a filter of `_id` alone was, so a conditional write (`{_id, _rev}`) or a read by a
 *   list of ids decoded every document of the collection.
 * - a filter's top-level equalities to plain strings (`{datanetId: 'd1'}`) are narrowed in SQL as
 *   well, through the expression the field's index is built on, so the index serves them (documents
 *   whose field holds an array come back too, for the handler to match). Before, the backend pushed
 *   nothing but `_id` down: a page of one Datanet's contributions out of 75,000 took 5 s, every
 *   document of the collection decoded and matched, and the read models' indexes only cost writes.
 * - a non-unique index on several fields (a read model's sorted list: `{datanetId, seq, _id}`) is
 *   built in SQLite on its first field only: this backend reads an index only for an equality and
 *   sorts without one (in its own process, or in SQLite's sorter below), so the other fields only
 *   cost writes (+22% of FerretDB's CPU per
 *   inserted contribution with all of them, measured). MongoDB reads pages in order from them.
 * - an update is a compare-and-set: the backend reads the matching document, the handler applies
 *   the update, and the write ran by `_id` alone, in a transaction of its own. Two writers with the
 *   same condition (`{_id, _g: <guard>}`) could both read the document, both match and both write:
 *   in a loopback test of two connections, 72 rounds of 200 reported both conditional replaces
 *   matched, and the second silently overwrote the first. The write now checks the filter's
 *   top-level string equalities again in its WHERE clause (the stored value equal, or an array that
 *   holds it), and a write that finds the document changed counts as not matched.
 * - an `update` command made only of replacements of single documents by distinct string `_id`s
 *   (a read model's guarded writes) runs as one write transaction instead of a read and a
 *   transaction per statement (OpalReplaceBatch below); and each statement of any other update
 *   command releases its rows before the next (a deferred close held them all until the command
 *   ended, a connection each, and the pool of 100 deadlocked).
 * - a find sorted by plain top-level fields has SQLite order the rows, so the handler decodes only
 *   the documents it returns (ferretdb-sorted-pages.mjs).
 */
const PATCHES = [
  {
    file: 'internal/backends/sqlite/metadata/metadata.go',
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause
	q += prepareOrderByClause(params.Sort)`,
    to: `	if params.Filter.Has("_id") {
		v, _ := params.Filter.Get("_id")
		switch v := v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = opalIDInClause(v)
		}
	}

	whereClause, args = opalFieldClauses(params.Filter, whereClause, args)

	q += whereClause
	q += prepareOrderByClause(params.Sort)`,
    append: `
// opalIDInClause narrows {_id: {$in: [strings]}} in SQL; anything else is left to the handler.
func opalIDInClause(d *types.Document) (string, []any) {
	if d.Len() != 1 {
		return "", nil
	}
	in, _ := d.Get("$in")
	arr, ok := in.(*types.Array)
	if !ok || arr.Len() == 0 || arr.Len() > 10000 {
		return "", nil
	}
	args := make([]any, 0, arr.Len())
	marks := make([]string, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		v, _ := arr.Get(i)
		s, ok := v.(string)
		if !ok {
			return "", nil
		}
		args = append(args, string(must.NotFail(sjson.MarshalSingleValue(s))))
		marks = append(marks, "?")
	}
	return fmt.Sprintf(\` WHERE %s IN (%s)\`, metadata.IDColumn, strings.Join(marks, ", ")), args
}

// opalArrayEnd bounds the JSON texts of arrays: they all sort from "[" to just before it.
var opalArrayEnd = string(rune('[' + 1))

// opalFieldClauses narrows the filter's top-level equalities to plain strings in SQL too, through
// the expression an index on the field is built on, so such an index serves them. A document whose
// field holds an array comes back as well (Mongo's equality matches an array that holds the value):
// the handler applies the whole filter to what comes back, as it does for _id.
func opalFieldClauses(filter *types.Document, where string, args []any) (string, []any) {
	for _, k := range filter.Keys() {
		if k == "_id" || strings.HasPrefix(k, "_ferretdb") || !backends.OpalPlainField(k) {
			continue
		}
		v, _ := filter.Get(k)
		s, ok := v.(string)
		if !ok || !opalPlainString(s) {
			continue
		}
		e := fmt.Sprintf("%s->%q", metadata.DefaultColumn, k)
		cond := fmt.Sprintf("(%s = ? OR (%s >= ? AND %s < ?))", e, e, e)
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, \`"\`+s+\`"\`, "[", opalArrayEnd)
	}
	return where, args
}

// opalPlainString is a string whose JSON text is the string in quotes: printable ASCII that no
// JSON encoder escapes.
func opalPlainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
`,
  },
  {
    file: 'internal/backends/collection.go',
    from: `type UpdateAllParams struct {
	Docs []*types.Document
}`,
    to: `type UpdateAllParams struct {
	Docs []*types.Document
	// Filter, when set, is checked again by the write (opal: updates as compare-and-set).
	Filter *types.Document
	// Filters, when set, holds such a filter for each of Docs (opal: a command's replacements in one write).
	Filters []*types.Document
}`,
  },
  {
    file: 'internal/backends/collection.go',
    from: `type UpdateAllResult struct {
	Updated int32
}`,
    to: `type UpdateAllResult struct {
	Updated int32
	// Missed lists the positions in Docs whose write found no row (opal: with Filters only).
	Missed []int
}`,
    append: `
// OpalPlainField is a field name a write's condition can name as a JSON path as it is (opal).
func OpalPlainField(k string) bool {
	for i, c := range k {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return k != ""
}
`,
  },
  {
    file: 'internal/handler/common/update.go',
    from: `			_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})
			if err != nil {
				return nil, lazyerrors.Error(err)
			}

			result.Modified.Count++`,
    to: `			updated, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}, Filter: param.Filter})
			if err != nil {
				return nil, lazyerrors.Error(err)
			}

			// Another writer changed the document between the read and this write: the filter
			// no longer held, so it did not match.
			if updated.Updated == 0 {
				result.Matched.Count--
				if isFindAndModify {
					result.Matched.Doc = nil
				}
				continue
			}

			result.Modified.Count++`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	q := fmt.Sprintf(\`UPDATE %q SET %s = ? WHERE %s = ?\`, meta.TableName, metadata.DefaultColumn, metadata.IDColumn)
`,
    to: `	q := fmt.Sprintf(\`UPDATE %q SET %s = ? WHERE %s = ?\`, meta.TableName, metadata.DefaultColumn, metadata.IDColumn)
	guard, guardArgs := opalGuardClause(params.Filter)
`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		for _, doc := range params.Docs {`,
    to: `	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		for opalI, doc := range params.Docs {`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `			r, err := tx.ExecContext(ctx, q, string(b), arg)`,
    to: `			dGuard, dArgs := guard, guardArgs
			if params.Filters != nil {
				dGuard, dArgs = opalGuardClause(params.Filters[opalI])
			}

			r, err := tx.ExecContext(ctx, q+dGuard, append([]any{string(b), arg}, dArgs...)...)`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `			res.Updated += int32(ra)
`,
    to: `			res.Updated += int32(ra)
			if ra == 0 && params.Filters != nil {
				res.Missed = append(res.Missed, opalI)
			}
`,
    append: `
// opalGuardClause repeats an update filter's top-level string equalities (other than _id) in the
// UPDATE's WHERE clause, so the write happens only if they still hold.
func opalGuardClause(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}
	var clause string
	var args []any
	for _, k := range filter.Keys() {
		if k == "_id" || !backends.OpalPlainField(k) {
			continue
		}
		v, _ := filter.Get(k)
		// Equal, or an array that holds it (as Mongo's equality matches).
		if s, ok := v.(string); ok {
			clause += fmt.Sprintf(
				" AND (%[1]s->>'$.%[2]s' = ? OR (json_type(%[1]s, '$.%[2]s') = 'array' AND EXISTS (SELECT 1 FROM json_each(%[1]s, '$.%[2]s') WHERE type = 'text' AND value = ?)))",
				metadata.DefaultColumn, k,
			)
			args = append(args, s, s)
		}
	}
	return clause, args
}
`,
  },
  {
    file: 'internal/handler/msg_update.go',
    from: `	for _, u := range params.Updates {
		c, err := db.Collection(params.Collection)`,
    to: `	if c, err := db.Collection(params.Collection); err == nil {
		if m, n, ok, err := common.OpalReplaceBatch(ctx, c, params.Updates); ok {
			if err != nil {
				return 0, 0, nil, lazyerrors.Error(err)
			}

			return m, n, &upserted, nil
		}
	}

	for _, u := range params.Updates {
		c, err := db.Collection(params.Collection)`,
  },
  {
    file: 'internal/handler/msg_update.go',
    from: `		closer := iterator.NewMultiCloser()
		defer closer.Close()
`,
    to: `		closer := iterator.NewMultiCloser()
`,
  },
  {
    file: 'internal/handler/msg_update.go',
    from: `		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
`,
    to: `		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		// opal: each statement's rows are released before the next statement reads (a deferred
		// close held every statement's rows, and a connection each, until the command ended).
		closer.Close()
`,
  },
  {
    file: 'internal/handler/common/update.go',
    from: `// processFilterEqualityCondition copies the fields with equality condition from filter to doc.`,
    to: `// processFilterEqualityCondition copies the fields with equality condition from filter to doc.`,
    append: `
// OpalReplaceBatch runs an update command made only of replacements of single documents, each
// selected by a distinct string _id (with other conditions beside it, such as a guard), in two
// write transactions at most, instead of a read and a transaction per statement:
//   - when every statement's other conditions are top-level string equalities, each is first
//     written directly, its conditions checked by the write itself (a row found is a document
//     Mongo's filter matches too);
//   - otherwise every statement, and a direct write that found no row, reads its document (one query),
//     are matched and replaced as the statement-by-statement path does, and are written with their
//     filters' string equalities checked again (a document another writer changed since the read
//     counts as not matched).
// ok is false when the command is not of that shape: the caller then runs it statement by statement.
func OpalReplaceBatch(ctx context.Context, c backends.Collection, updates []Update) (matched, modified int32, ok bool, err error) {
	if len(updates) < 2 {
		return 0, 0, false, nil
	}

	seen := make(map[string]struct{}, len(updates))
	direct := make([]*types.Document, 0, len(updates))
	directFilters := make([]*types.Document, 0, len(updates))
	directOf := make([]int, 0, len(updates))
	var read []int

	for i, u := range updates {
		if u.Multi || u.Upsert || u.HasUpdateOperators || u.Filter == nil || u.Update == nil {
			return 0, 0, false, nil
		}

		v, _ := u.Filter.Get("_id")

		id, isString := v.(string)
		if !isString {
			return 0, 0, false, nil
		}

		if _, dup := seen[id]; dup {
			return 0, 0, false, nil
		}

		seen[id] = struct{}{}

		if doc := opalDirectReplacement(id, u); doc != nil {
			direct = append(direct, doc)
			directFilters = append(directFilters, u.Filter)
			directOf = append(directOf, i)
		} else {
			read = append(read, i)
		}
	}

	// A statement that must be read first may fail (an _id changed); then none is written first.
	if len(read) > 0 {
		read = read[:0]
		for i := range updates {
			read = append(read, i)
		}

		direct = nil
	}

	if len(direct) > 0 {
		r, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: direct, Filters: directFilters})
		if err != nil {
			return 0, 0, true, lazyerrors.Error(err)
		}

		matched, modified = r.Updated, r.Updated

		for _, k := range r.Missed {
			read = append(read, directOf[k])
		}
	}

	if len(read) == 0 {
		return matched, modified, true, nil
	}

	ids := types.MakeArray(len(read))
	for _, i := range read {
		ids.Append(must.NotFail(updates[i].Filter.Get("_id")))
	}

	filter := must.NotFail(types.NewDocument("_id", must.NotFail(types.NewDocument("$in", ids))))

	res, err := c.Query(ctx, &backends.QueryParams{Filter: filter})
	if err != nil {
		return 0, 0, true, lazyerrors.Error(err)
	}

	current := make(map[string]*types.Document, len(read))

	for {
		_, doc, e := res.Iter.Next()
		if e != nil {
			res.Iter.Close()

			if !errors.Is(e, iterator.ErrIteratorDone) {
				return 0, 0, true, lazyerrors.Error(e)
			}

			break
		}

		if id, isString := must.NotFail(doc.Get("_id")).(string); isString {
			current[id] = doc
		}
	}

	docs := make([]*types.Document, 0, len(read))
	filters := make([]*types.Document, 0, len(read))

	for _, i := range read {
		u := updates[i]

		doc := current[must.NotFail(u.Filter.Get("_id")).(string)]
		if doc == nil {
			continue
		}

		match, e := FilterDocument(doc, u.Filter)
		if e != nil {
			return 0, 0, true, lazyerrors.Error(e)
		}

		if !match {
			continue
		}

		matched++

		changed, e := processReplacementDoc("update", doc, u.Update)
		if e != nil {
			return 0, 0, true, lazyerrors.Error(e)
		}

		if !changed {
			continue
		}

		if e = doc.ValidateData(); e != nil {
			return 0, 0, true, lazyerrors.Error(e)
		}

		docs = append(docs, doc)
		filters = append(filters, u.Filter)
	}

	if len(docs) == 0 {
		return matched, modified, true, nil
	}

	r, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs, Filters: filters})
	if err != nil {
		return 0, 0, true, lazyerrors.Error(err)
	}

	matched -= int32(len(docs)) - r.Updated

	return matched, modified + r.Updated, true, nil
}

// opalDirectReplacement is the document a replacement writes without reading the one it replaces:
// nil unless every condition of the filter besides _id is a top-level string equality (which the
// write checks itself) and the replacement keeps _id and is valid.
func opalDirectReplacement(id string, u Update) *types.Document {
	for _, k := range u.Filter.Keys() {
		if k == "_id" {
			continue
		}

		v, _ := u.Filter.Get(k)
		if _, isString := v.(string); !isString || !backends.OpalPlainField(k) {
			return nil
		}
	}

	if v, err := u.Update.Get("_id"); err == nil {
		if s, isString := v.(string); !isString || s != id {
			return nil
		}
	}

	doc := must.NotFail(types.NewDocument("_id", id))

	for _, k := range u.Update.Keys() {
		if k != "_id" {
			doc.Set(k, must.NotFail(u.Update.Get(k)))
		}
	}

	if doc.ValidateData() != nil {
		return nil
	}

	return doc
}
`,
  },
  {
    file: 'internal/backends/sqlite/metadata/registry.go',
    from: `		columns := make([]string, len(index.Key))
		for i, key := range index.Key {`,
    to: `		// opal: a non-unique index on several fields is built on its first field only. This backend
		// reads an index for an equality on one field and sorts without one, so the other fields
		// would only cost writes; a unique index keeps them all (they make the key).
		keys := index.Key
		if !index.Unique && len(keys) > 1 {
			keys = keys[:1]
		}

		columns := make([]string, len(keys))
		for i, key := range keys {`,
  },
];
/**
 * Dependencies built at a newer version than FerretDB 1.24.2's go.sum pins (`go get` before the
 * build). modernc.org/sqlite v1.32.0 is SQLite 3.46 translated to Go, on modernc.org/libc v1.55
 * (whose memcmp, for one, compares a byte at a time); v1.62.0 takes FerretDB's CPU per inserted
 * read-model document down by about a fifth, and the store-only rate up by about a third, in
 * alternated runs of the same load (FerretDB's SQL and the database files are unchanged).
 */
const UPGRADES = [['modernc.org/sqlite', 'v1.62.0']];
const PATCH_STAMP = `opal-5 (${UPGRADES.map((u) => u.join('@')).join(', ')}): sqlite _id index expression; _id pushdown next to other conditions and for $in; string equalities pushed down; non-unique compound indexes on their first field; updates as compare-and-set (arrays holding the value match); a command of replacements by _id in one read and one transaction; update statements release their rows; finds sorted by plain fields ordered in SQL, and their $or narrowed\n`;

export function ferretdbInstalled(config) {
  const f = config.ferretdb;
  return existsSync(binOf(f)) && existsSync(stampOf(f)) && readFileSync(stampOf(f), 'utf8') === PATCH_STAMP;
}

function applyPatches(src) {
  for (const p of [...PATCHES, ...SORTED_PAGE_PATCHES]) {
    const file = join(src, p.file);
    const text = readFileSync(file, 'utf8');
    if (!text.includes(p.from)) throw new Error(`ferretdb patch: ${p.file} does not contain the expected code (another FerretDB version?)`);
    writeFileSync(file, text.replace(p.from, p.to) + (p.append ?? ''));
  }
}

/**
 * `go install ...@version` builds a binary that panics at start: FerretDB reads its version from
 * build/version/version.txt, which its release build generates from git and the module zip lacks.
 * So: fetch the exact module with the Go module proxy, copy it, write that file as the release
 * build would, and `go build ./cmd/ferretdb` (same sources, same go.sum-pinned dependencies).
 */
export async function installFerretdb(config) {
  const f = config.ferretdb;
  if (ferretdbInstalled(config)) return false;
  const src = join(f.home, 'src');
  // GOTOOLCHAIN=local: build with the machine's Go instead of fetching another toolchain.
  const env = { GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
  const downloaded = await captureJson('go', ['mod', 'download', '-json', `${MODULE_ROOT}@${f.version}`], env);
  if (!downloaded.Dir) throw new Error(`go mod download ${MODULE_ROOT}@${f.version}: ${downloaded.Error ?? 'no Dir'}`);
  rmSync(src, { recursive: true, force: true });
  cpSync(downloaded.Dir, src, { recursive: true });
  chmodTree(src);
  writeFileSync(join(src, 'build', 'version', 'version.txt'), `${f.version}\n`);
  writeFileSync(join(src, 'build', 'version', 'package.txt'), 'opal-infra\n');
  applyPatches(src);
  for (const [module, version] of UPGRADES) {
    await runLogged(config, 'ferretdb-install', 'go', ['get', `${module}@${version}`], { cwd: src, env: { ...env, GOFLAGS: '-mod=mod' } });
  }
  mkdirSync(join(f.home, 'bin'), { recursive: true });
  await runLogged(config, 'ferretdb-install', 'go', ['build', '-trimpath', '-o', binOf(f), './cmd/ferretdb'], { cwd: src, env });
  if (!existsSync(binOf(f))) throw new Error(`go build finished but ${binOf(f)} is missing`);
  writeFileSync(stampOf(f), PATCH_STAMP);
  rmSync(src, { recursive: true, force: true });
  return true;
}

function captureJson(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`${command}: ${e.message} (is Go installed?)`)));
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
      }
    });
  });
}

/** The module cache is read-only; the copy must be writable to add the version file and delete later. */
function chmodTree(dir) {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) chmodTree(p);
    else chmodSync(p, 0o644);
  }
}

const OPENSSL_EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * The TLS listener's files, made once with the openssl command: a CA (ten years), a server
 * certificate for 127.0.0.1 and localhost, and a client certificate, as separate files and as one
 * file of certificate and key (MongoDB's tlsCertificateKeyFile). False where openssl is missing.
 */
async function ensureTls(config) {
  const f = config.ferretdb;
  const d = f.tlsDir;
  const files = ['ca.pem', 'server.crt', 'server.key', 'client.crt', 'client.key', 'client.pem'].map((n) => join(d, n));
  if (files.every((p) => existsSync(p))) return true;
  try {
    await runLogged(config, 'ferretdb-tls', 'openssl', ['version']);
  } catch {
    return false;
  }
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  const ssl = (args) => runLogged(config, 'ferretdb-tls', 'openssl', args, { cwd: d });
  await ssl(['req', '-x509', ...OPENSSL_EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=opal-local-mongodb-ca']);
  const issue = async (name, cn, ext) => {
    writeFileSync(join(d, `${name}.ext`), ext);
    await ssl(['req', ...OPENSSL_EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    await ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '3650', '-extfile', `${name}.ext`]);
  };
  await issue('server', config.host, `subjectAltName=IP:${config.host},DNS:localhost\nextendedKeyUsage=serverAuth\n`);
  await issue('client', 'opal', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(join(d, 'client.pem'), readFileSync(join(d, 'client.crt'), 'utf8') + readFileSync(join(d, 'client.key'), 'utf8'));
  return true;
}

/** Whether our FerretDB serves its TLS listener (started with one and answering on its port). */
export async function secureMongoUp(config) {
  const f = config.ferretdb;
  const state = running(config, 'ferretdb');
  if (!f.tlsPort || !state || !existsSync(tlsMarkerOf(config))) return false;
  return tcpOpen(config.host, f.tlsPort);
}

/** Written while our FerretDB runs with the TLS listener, removed when it starts without. */
const tlsMarkerOf = (config) => join(config.runDir, `ferretdb-tls-${config.ferretdb.tlsPort}`);

export async function startFerretdb(config) {
  const f = config.ferretdb;
  const existing = running(config, 'ferretdb');
  if (existing) return { started: false, state: existing };
  if (await mongoReady(config.host, f.port).catch(() => false)) return { started: false, external: true };
  // The TLS listener only serves the TLS tests: a port something else holds leaves it out, not the server.
  const tlsPortTaken = f.tlsPort > 0 && (await tcpOpen(config.host, f.tlsPort));
  if (tlsPortTaken) process.stderr.write(`[infra] ferretdb: ${config.host}:${f.tlsPort} is in use; starting without the TLS listener (OPAL_MONGO_TLS_PORT picks another)\n`);
  const tls = f.tlsPort > 0 && !tlsPortTaken && (await ensureTls(config));
  if (f.tlsPort > 0 && !tlsPortTaken && !tls) process.stderr.write('[infra] ferretdb: no openssl command to make certificates with; starting without the TLS listener\n');
  mkdirSync(config.runDir, { recursive: true });
  rmSync(tlsMarkerOf(config), { force: true });
  const sqliteDir = join(f.dataDir, 'sqlite');
  const stateDir = join(f.dataDir, 'state');
  mkdirSync(sqliteDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const args = [
    `--listen-addr=${config.host}:${f.port}`,
    `--debug-addr=${config.host}:${f.debugPort}`,
    '--handler=sqlite',
    // WAL (FerretDB's default) with synchronous=NORMAL: a commit no longer waits for an fsync; a
    // crash of FerretDB or of the machine's processes loses nothing, a power cut may lose the last
    // commits (fine for local servers; production runs MongoDB). A 64 MiB page cache (SQLite's
    // default is 2 MiB) keeps the read models' indexes in memory.
    `--sqlite-url=file:${sqliteDir}/?_pragma=synchronous(normal)&_pragma=cache_size(-65536)`,
    `--state-dir=${stateDir}`,
    '--telemetry=disable',
    // Rows per INSERT statement (default 100): a projection's batch inserts thousands of documents.
    '--test-batch-size=1000',
    '--log-level=warn',
    // Mutual TLS: with a CA file FerretDB asks every client for a certificate it signed.
    ...(tls
      ? [
          `--listen-tls=${config.host}:${f.tlsPort}`,
          `--listen-tls-cert-file=${join(f.tlsDir, 'server.crt')}`,
          `--listen-tls-key-file=${join(f.tlsDir, 'server.key')}`,
          `--listen-tls-ca-file=${join(f.tlsDir, 'ca.pem')}`,
        ]
      : []),
  ];
  // Go's collector runs when the heap has grown by GOGC percent (default 100). Each command allocates
  // a lot of short-lived garbage and the live heap stays small, so a higher target trades a few
  // MiB of memory for fewer collections (inserts ~5%, updates ~10% cheaper, measured).
  const env = { GOGC: process.env.GOGC ?? '400' };
  const { state } = startDetached(config, 'ferretdb', binOf(f), args, { marker: binOf(f), env });
  await waitUntil('ferretdb', () => mongoReady(config.host, f.port), { timeoutMs: 30_000, pid: state.pid, log: state.log });
  if (tls) writeFileSync(tlsMarkerOf(config), String(state.pid));
  return { started: true, state };
}
