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
//
// A page after a place (`{datanetId, $or: [{seq: {$gt: 41}}, {seq: 41, _id: {$gt: 'c-9'}}]}`, as
// the document store asks for the page after a token) has its `$or` narrowed in SQL too, so the rows
// before the place are passed over by SQLite instead of decoded and matched by the handler: each
// equality to a string or a number and each comparison with one ($gt, $gte, $lt, $lte) on a plain
// field, as a value of that type comparing so, or a value of a type opalTypeRank leaves to the
// handler (an array may hold a matching element). The handler still applies the whole filter.

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
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `	for _, k := range filter.Keys() {
		if k == "_id" || strings.HasPrefix(k, "_ferretdb") || !backends.OpalPlainField(k) {`,
    to: `	for _, k := range filter.Keys() {
		if k == "$or" {
			v, _ := filter.Get(k)
			if cond, orArgs, ok := opalOrClause(v); ok {
				if where == "" {
					where = " WHERE " + cond
				} else {
					where += " AND " + cond
				}
				args = append(args, orArgs...)
			}
			continue
		}
		if k == "_id" || strings.HasPrefix(k, "_ferretdb") || !backends.OpalPlainField(k) {`,
    append: `
// opalOrClause narrows a top-level $or in SQL when each of its branches holds only equalities to
// strings or numbers, and comparisons with them, on plain fields: a superset of what it matches
// (opalCompare), or false for any other $or.
func opalOrClause(v any) (string, []any, bool) {
	branches, ok := v.(*types.Array)
	if !ok || branches.Len() == 0 || branches.Len() > 64 {
		return "", nil, false
	}
	ors := make([]string, 0, branches.Len())
	var args []any
	for i := 0; i < branches.Len(); i++ {
		b, _ := branches.Get(i)
		branch, ok := b.(*types.Document)
		if !ok || branch.Len() == 0 {
			return "", nil, false
		}
		ands := make([]string, 0, branch.Len())
		for _, k := range branch.Keys() {
			if !backends.OpalPlainField(k) {
				return "", nil, false
			}
			cv, _ := branch.Get(k)
			ops, isOps := cv.(*types.Document)
			if !isOps {
				rank, value, ok := opalScalar(cv)
				if !ok {
					return "", nil, false
				}
				ands = append(ands, opalCompare(k, rank, "="))
				args = append(args, value)
				continue
			}
			if ops.Len() == 0 {
				return "", nil, false
			}
			for _, op := range ops.Keys() {
				sqlOp, known := opalComparisons[op]
				x, _ := ops.Get(op)
				rank, value, ok := opalScalar(x)
				if !known || !ok {
					return "", nil, false
				}
				ands = append(ands, opalCompare(k, rank, sqlOp))
				args = append(args, value)
			}
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args, true
}

var opalComparisons = map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// opalScalar is a string or a finite number, with the rank of its type (opalTypeRank) and the value
// SQLite compares the field's values with: those of that type compare with it as FerretDB's do.
func opalScalar(v any) (int, any, bool) {
	switch v := v.(type) {
	case string:
		return 4, v, true
	case int32:
		return 3, int64(v), true
	case int64:
		return 3, v, true
	case float64:
		if v-v != 0 { // NaN or an infinity
			return 0, nil, false
		}
		return 3, v, true
	}
	return 0, nil, false
}

// opalCompare is a superset of the documents whose field k meets "op ?" for a value of that rank:
// the field holds a value of the same type that compares so (FerretDB, like MongoDB, compares only
// values of one type), or one of a type SQLite does not order (an array may hold a match).
func opalCompare(k string, rank int, op string) string {
	r := opalTypeRank(k)
	return fmt.Sprintf("((%s = %d AND %s->>'$.%s' %s ?) OR %s = 0)", r, rank, metadata.DefaultColumn, k, op, r)
}
`,
  },
];
