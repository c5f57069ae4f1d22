// Edits to FerretDB 1.24's SQLite backend, applied to the module source before the build
// (ferretdb.mjs applies them, then ferretdb-sorted-pages.mjs's).

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
 *   transaction per statement; and each statement of any other update command releases its rows
 *   before the next (ferretdb-replace-batch.mjs).
 * - a find sorted by plain top-level fields has SQLite order the rows, so the handler decodes only
 *   the documents it returns (ferretdb-sorted-pages.mjs).
 */
export const BACKEND_PATCHES = [
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
