// Edits to FerretDB 1.24's update command (applied after ferretdb-backend-patches.mjs's): an
// `update` command made only of replacements of single documents by distinct string `_id`s (a read
// model's guarded writes) runs as one write transaction instead of a read and a transaction per
// statement (OpalReplaceBatch below); and each statement of any other update command releases its
// rows before the next (a deferred close held them all until the command ended, a connection each,
// and the pool of 100 deadlocked).
export const REPLACE_BATCH_PATCHES = [
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
];
