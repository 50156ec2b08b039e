-- The catalog in PostgreSQL (issue 17, second part): the store's documents and paragraphs carry everything the
-- single-machine catalog (rag/index/catalog.py) holds, and every write appends to a change log, so API replicas
-- bring their in-memory search indexes up to the database as they do with a local catalog. Applied once, in a
-- transaction, by rag.index.pg_catalog.migrate.

ALTER TABLE documents
    ADD COLUMN path TEXT NOT NULL DEFAULT '',
    ADD COLUMN fmt TEXT NOT NULL DEFAULT '',
    ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'văn bản',
    ADD COLUMN number TEXT,
    ADD COLUMN issuer TEXT,
    ADD COLUMN issued TEXT,
    ADD COLUMN place TEXT,
    ADD COLUMN summary TEXT,
    ADD COLUMN classification TEXT NOT NULL DEFAULT 'cong-khai',
    ADD COLUMN text TEXT NOT NULL DEFAULT '',
    ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}',
    ADD COLUMN ingested_by TEXT NOT NULL DEFAULT 'cli',
    -- the change that added it: commit order ("earlier documents with this number")
    ADD COLUMN committed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX documents_number ON documents (replace(upper(number), ' ', '')) WHERE number IS NOT NULL;

ALTER TABLE paragraphs
    ADD COLUMN section TEXT NOT NULL DEFAULT '',
    ADD COLUMN page INTEGER,
    -- the paragraph's span in its document's text ("end" is a reserved word: quoted, also by the shared queries)
    ADD COLUMN start INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "end" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'body';

-- One row per write: paragraphs pid_min..pid_max of doc_id added or removed. Writers hold one advisory lock from
-- their first read to their commit, so sequence numbers commit in order and a reader that has applied change s
-- never misses one below it.
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    doc_id TEXT NOT NULL,
    pid_min BIGINT,
    pid_max BIGINT
);

-- Documents written before this migration (by PgStore.write_document, which stored paragraphs alone): their text
-- is their paragraphs joined by blank lines, each paragraph's span within it, and one logged addition each.
UPDATE paragraphs p SET start = s.start, "end" = s.start + length(p.text)
FROM (SELECT pid, sum(length(text) + 2) OVER (PARTITION BY doc_id ORDER BY n) - length(text) - 2 AS start
      FROM paragraphs) s
WHERE s.pid = p.pid;
UPDATE documents d SET text = coalesce(
    (SELECT string_agg(p.text, E'\n\n' ORDER BY p.n) FROM paragraphs p WHERE p.doc_id = d.doc_id), '');
INSERT INTO changes (seq, op, doc_id, pid_min, pid_max)
SELECT row_number() OVER (ORDER BY min(pid)), 'add', doc_id, min(pid), max(pid) FROM paragraphs GROUP BY doc_id;
UPDATE documents d SET committed = c.seq FROM changes c WHERE c.doc_id = d.doc_id;

-- Which database a replica's saved search indexes were built from: snapshots of another one are not loaded.
INSERT INTO vankien_meta (key, value) VALUES ('store_id', gen_random_uuid()::text);
