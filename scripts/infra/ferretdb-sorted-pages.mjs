// An edit to FerretDB 1.24's find command and SQLite backend (applied after those of ferretdb.mjs,
// whose text some of these follow): a find sorted by plain top-level fields has SQLite order the
// rows, so the handler decodes only the documents it returns.
//
// Stock FerretDB sorts in its own process: every document that passes the filter's SQL part is read,
// decoded, matched and sorted before the first is returned. A page of 101 contributions of a Datanet
// of 40,000 took 2.5-3.0 s, most of it decoding documents the page does not hold. With SQLite
// ordering the rows, the handler's filter, skip and limit read them lazily and stop at the page.
//
// SQLite orders by each sort field's type, in the order FerretDB sorts types
// (types.CompareOrderForSort: null or missing, numbers, strings, ..., ObjectIds, booleans, dates),
// then by its value, which for those types SQLite compares as FerretDB does: numbers numerically,
// strings and ObjectIds (hex) by their bytes, booleans and dates (milliseconds) as integers; the
// row id last, for ties. Documents, arrays, binary data, timestamps and regular expressions order
// otherwise (arrays by their least or greatest element), so a query whose filtered documents hold
// any of those in a sort field is sorted by the handler as before: a first query asks SQLite
// whether there is such a document. Capped collections, `$natural`, paths with dots and a limit the
// backend applies itself keep the stock path.

export const SORTED_PAGE_PATCHES = [
  {
    file: 'internal/backends/collection.go',
    from: `type QueryParams struct {
	Filter *types.Document
	Sort   *types.Document
	Limit  int64
`,
    to: `type QueryParams struct {
	Filter *types.Document
	Sort   *types.Document
	Limit  int64
	// OpalSort, when set, is the find's sort, which the backend may apply (opal); if it does, it
	// says so in QueryResult.OpalSorted.
	OpalSort *types.Document
`,
  },
  {
    file: 'internal/backends/collection.go',
    from: `type QueryResult struct {
	Iter types.DocumentsIterator
}`,
    to: `type QueryResult struct {
	Iter types.DocumentsIterator
	// OpalSorted: Iter returns the documents in QueryParams.OpalSort's order (opal).
	OpalSorted bool
}`,
  },
  {
    file: 'internal/handler/msg_find.go',
    from: `	// Limit pushdown is not applied if:`,
    to: `	if !h.DisablePushdown && params.Sort.Len() > 0 && !cInfo.Capped() && opalPlainSort(params.Sort) {
		qp.OpalSort = params.Sort
	}

	// Limit pushdown is not applied if:`,
    append: `
// opalPlainSort is a sort by plain top-level fields only (opal), which a backend may apply.
func opalPlainSort(sort *types.Document) bool {
	for _, k := range sort.Keys() {
		if !backends.OpalPlainField(k) {
			return false
		}
	}
	return true
}
`,
  },
  {
    file: 'internal/handler/msg_find.go',
    from: `	iter, err := h.makeFindIter(queryRes.Iter, closer, params)`,
    to: `	iterParams := params
	if queryRes.OpalSorted {
		// The backend returns the documents in order: filter, skip and limit them as they come.
		unsorted := *params
		unsorted.Sort = nil
		iterParams = &unsorted
	}

	iter, err := h.makeFindIter(queryRes.Iter, closer, iterParams)`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	whereClause, args = opalFieldClauses(params.Filter, whereClause, args)

	q += whereClause
	q += prepareOrderByClause(params.Sort)`,
    to: `	whereClause, args = opalFieldClauses(params.Filter, whereClause, args)

	opalSorted := false
	if params.OpalSort.Len() > 0 && params.Sort.Len() == 0 && params.Limit == 0 && !params.OnlyRecordIDs {
		var err error
		if opalSorted, err = opalOrderable(ctx, db, meta.TableName, whereClause, args, params.OpalSort); err != nil {
			return nil, lazyerrors.Error(err)
		}
	}

	q += whereClause
	q += prepareOrderByClause(params.Sort)
	if opalSorted {
		q += opalOrderBy(params.OpalSort)
	}`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	return &backends.QueryResult{
		Iter: newQueryIterator(ctx, rows, params.OnlyRecordIDs),
	}, nil`,
    to: `	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	return &backends.QueryResult{
		Iter:       newQueryIterator(ctx, rows, params.OnlyRecordIDs),
		OpalSorted: opalSorted,
	}, nil`,
    append: `
// opalTypeRank is the place of a sort field's type, read from the document's schema, in the order
// FerretDB sorts types (types.CompareOrderForSort); 0 for the types whose values SQLite does not
// order as FerretDB does (documents, arrays, binary data, timestamps, regular expressions).
func opalTypeRank(field string) string {
	return fmt.Sprintf(
		\`(CASE COALESCE(%s->>'$."$s".p.%s.t', 'null') WHEN 'null' THEN 1 WHEN 'int' THEN 3 WHEN 'long' THEN 3 WHEN 'double' THEN 3 WHEN 'string' THEN 4 WHEN 'objectId' THEN 8 WHEN 'bool' THEN 9 WHEN 'date' THEN 10 ELSE 0 END)\`,
		metadata.DefaultColumn, field,
	)
}

// opalOrderable says whether SQLite can order the documents of the query by sort: none of them
// holds, in a sort field, a value of a type opalTypeRank leaves to the handler.
func opalOrderable(ctx context.Context, db *fsql.DB, table, where string, args []any, sort *types.Document) (bool, error) {
	others := make([]string, 0, sort.Len())
	for _, k := range sort.Keys() {
		others = append(others, opalTypeRank(k)+" = 0")
	}
	cond := "(" + strings.Join(others, " OR ") + ")"
	if where == "" {
		where = " WHERE " + cond
	} else {
		where += " AND " + cond
	}
	var found int
	if err := db.QueryRowContext(ctx, fmt.Sprintf(\`SELECT EXISTS (SELECT 1 FROM %q%s)\`, table, where), args...).Scan(&found); err != nil {
		return false, lazyerrors.Error(err)
	}
	return found == 0, nil
}

// opalOrderBy orders rows as FerretDB sorts documents by sort, for the types opalTypeRank ranks:
// by each field's type, then its value; the row id last.
func opalOrderBy(sort *types.Document) string {
	keys := make([]string, 0, 2*sort.Len()+1)
	for _, k := range sort.Keys() {
		dir := ""
		if v, _ := sort.Get(k); v == int64(-1) {
			dir = " DESC"
		}
		keys = append(keys, opalTypeRank(k)+dir, fmt.Sprintf(\`%s->>'$.%s'%s\`, metadata.DefaultColumn, k, dir))
	}
	return " ORDER BY " + strings.Join(append(keys, "rowid"), ", ")
}
`,
  },
];
