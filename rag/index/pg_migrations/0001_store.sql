-- Văn Kiện store in PostgreSQL (issue 17): documents, paragraphs, BM25 postings with the product's own terms,
-- and access by classification rank enforced by row-level security. Applied once, in a transaction, by
-- rag.index.postgres.PgStore.migrate; the version is recorded in vankien_schema.

CREATE TABLE vankien_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY,
    source_key TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    level SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 3),
    n_paragraphs INTEGER NOT NULL,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE paragraphs (
    pid BIGSERIAL PRIMARY KEY,
    paragraph_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    level SMALLINT NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    -- BM25 length: the paragraph's terms plus its context's, weighted as the lexical index weighs them.
    length REAL NOT NULL
);
CREATE INDEX paragraphs_doc ON paragraphs (doc_id, n);

-- One row per (term, paragraph): exact terms and their folded twins ("~nghi_quyet"), as rag.index.lexical. The
-- paragraph's level and BM25 length are repeated here and carried in the primary key's index, so a search reads
-- a term's postings from the index alone (an index-only scan once the table is vacuumed), never the heap.
CREATE TABLE postings (
    term TEXT NOT NULL,
    pid BIGINT NOT NULL REFERENCES paragraphs (pid) ON DELETE CASCADE,
    level SMALLINT NOT NULL,
    tf REAL NOT NULL,
    length REAL NOT NULL,
    PRIMARY KEY (term, pid) INCLUDE (level, tf, length)
);
CREATE INDEX postings_pid ON postings (pid);

-- Paragraph count and total BM25 length per level, kept by a trigger on paragraphs (any insert or delete,
-- cascades included), so a search reads N and the average length from at most four rows.
CREATE TABLE level_stats (
    level SMALLINT PRIMARY KEY,
    paragraphs BIGINT NOT NULL,
    total_length DOUBLE PRECISION NOT NULL
);
INSERT INTO level_stats SELECT l, 0, 0 FROM generate_series(0, 3) AS l;

CREATE FUNCTION vankien_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE level_stats s SET paragraphs = s.paragraphs + d.n, total_length = s.total_length + d.len
    FROM (SELECT level, count(*) AS n, sum(length) AS len FROM added GROUP BY level) d
    WHERE s.level = d.level;
    RETURN NULL;
END
$$;
CREATE FUNCTION vankien_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE level_stats s SET paragraphs = s.paragraphs - d.n, total_length = s.total_length - d.len
    FROM (SELECT level, count(*) AS n, sum(length) AS len FROM removed GROUP BY level) d
    WHERE s.level = d.level;
    RETURN NULL;
END
$$;
CREATE TRIGGER paragraphs_added AFTER INSERT ON paragraphs REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION vankien_count_added();
CREATE TRIGGER paragraphs_removed AFTER DELETE ON paragraphs REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION vankien_count_removed();

-- The reader role every search runs under (SET LOCAL ROLE): it sees only the rows at or below the clearance the
-- transaction sets (vankien.clearance), so document counts, lengths and document frequencies, not only the
-- results, come from what the caller may see.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vankien_reader') THEN
        CREATE ROLE vankien_reader NOLOGIN;
    END IF;
    -- The store's own user switches to the reader role for every search (SET LOCAL ROLE).
    IF NOT pg_has_role(current_user, 'vankien_reader', 'MEMBER') THEN
        EXECUTE format('GRANT vankien_reader TO %I', current_user);
    END IF;
END
$$;

CREATE FUNCTION vankien_clearance() RETURNS INTEGER LANGUAGE sql STABLE AS
$$ SELECT coalesce(nullif(current_setting('vankien.clearance', true), '')::INTEGER, -1) $$;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE paragraphs ENABLE ROW LEVEL SECURITY;
ALTER TABLE postings ENABLE ROW LEVEL SECURITY;
ALTER TABLE level_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY documents_read ON documents FOR SELECT TO vankien_reader USING (level <= vankien_clearance());
CREATE POLICY paragraphs_read ON paragraphs FOR SELECT TO vankien_reader USING (level <= vankien_clearance());
CREATE POLICY postings_read ON postings FOR SELECT TO vankien_reader USING (level <= vankien_clearance());
CREATE POLICY level_stats_read ON level_stats FOR SELECT TO vankien_reader USING (level <= vankien_clearance());
GRANT USAGE ON SCHEMA public TO vankien_reader;
GRANT SELECT ON documents, paragraphs, postings, level_stats TO vankien_reader;
