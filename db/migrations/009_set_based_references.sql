-- The writer's projection tables check their references once per statement, not once per row.
--
-- A FOREIGN KEY checks every inserted row with its own query, which also locks the referenced row
-- (FOR KEY SHARE). For the writer's batches that was most of PostgreSQL's work: 6,080 registrations
-- took 506 ms with their four foreign keys and 139 ms without; 6,080 items 313 ms and 103 ms
-- (EXPLAIN ANALYZE, README "Measured figures", P6). And every insert locked the same few rows of
-- provinces, campuses and subjects, so concurrent batches queued on them.
--
-- Here the foreign keys of registrations, registration_items, payment_orders and payment_order_items
-- become statement-level triggers with transition tables: one anti-join per statement finds any
-- inserted row whose reference is missing and raises foreign_key_violation (23503) under the old
-- constraint's name, so callers and the writer see exactly the error they saw before. Updates that
-- change a referencing column, and deletes or key changes on the referenced side, are checked too.
-- What is given up: the row lock. A referenced row deleted by a concurrent transaction while a
-- batch references it is not caught. The application never deletes roster, account, campus,
-- subject, order or item rows, nor changes their keys; reconcile compares the projections with Redis.

-- "a, b" with each column quoted and qualified: reference_columns('n.', 'a,b') = 'n.a, n.b'.
CREATE FUNCTION reference_columns(qualifier text, columns text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT string_agg(qualifier || quote_ident(trim(c)), ', ') FROM unnest(string_to_array(columns, ',')) c
$$;

-- TG_ARGV: constraint name, referenced table, referencing columns, referenced columns (comma lists)
CREATE FUNCTION check_inserted_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing text;
BEGIN
  EXECUTE format(
    'SELECT (%1$s)::text FROM inserted_rows n
      WHERE NOT EXISTS (SELECT 1 FROM %2$I r WHERE (%3$s) = (%1$s)) LIMIT 1',
    reference_columns('n.', TG_ARGV[2]),
    TG_ARGV[1],
    reference_columns('r.', TG_ARGV[3]))
  INTO missing;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_ARGV[0]
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0], TABLE = TG_TABLE_NAME,
            DETAIL = format('Key (%s)=%s is not present in table "%s".', TG_ARGV[2], missing, TG_ARGV[1]);
  END IF;
  RETURN NULL;
END $$;

-- A referencing column changed by an UPDATE (never done by the application): checked row by row.
-- TG_ARGV as above.
CREATE FUNCTION check_updated_reference() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  present boolean;
BEGIN
  EXECUTE format(
    'SELECT EXISTS (SELECT 1 FROM %1$I r WHERE (%2$s) = (%3$s))',
    TG_ARGV[1],
    reference_columns('r.', TG_ARGV[3]),
    reference_columns('($1).', TG_ARGV[2]))
  INTO present USING NEW;
  IF NOT present THEN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_ARGV[0]
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0], TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NEW;
END $$;

-- The referenced side: a deleted key must not be referenced any more.
-- TG_ARGV: constraint name, referencing table, referencing columns, referenced columns.
CREATE FUNCTION check_deleted_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  referenced boolean;
BEGIN
  EXECUTE format(
    'SELECT EXISTS (SELECT 1 FROM removed_rows o JOIN %1$I c ON (%2$s) = (%3$s))',
    TG_ARGV[1],
    reference_columns('c.', TG_ARGV[2]),
    reference_columns('o.', TG_ARGV[3]))
  INTO referenced;
  IF referenced THEN
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
      TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0], TABLE = TG_ARGV[1];
  END IF;
  RETURN NULL;
END $$;

-- A referenced key changed by an UPDATE (never done by the application): checked row by row.
CREATE FUNCTION check_changed_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed boolean;
  referenced boolean;
  old_key text := reference_columns('($1).', TG_ARGV[3]);
  new_key text := reference_columns('($2).', TG_ARGV[3]);
BEGIN
  EXECUTE format('SELECT (%s) IS DISTINCT FROM (%s)', old_key, new_key) INTO changed USING OLD, NEW;
  IF NOT changed THEN RETURN NEW; END IF;
  EXECUTE format(
    'SELECT EXISTS (SELECT 1 FROM %1$I c WHERE (%2$s) = (%3$s))',
    TG_ARGV[1],
    reference_columns('c.', TG_ARGV[2]),
    old_key)
  INTO referenced USING OLD, NEW;
  IF referenced THEN
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
      TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0], TABLE = TG_ARGV[1];
  END IF;
  RETURN NEW;
END $$;

-- One reference: drops the foreign key and installs its four triggers (the row-level ones fire only
-- when an UPDATE names the key columns, which the application's updates never do).
CREATE FUNCTION pg_temp.set_based_reference(
  child text, constraint_name text, child_columns text, parent text, parent_columns text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  args text := format('%L, %L, %L, %L', constraint_name, parent, child_columns, parent_columns);
  back text := format('%L, %L, %L, %L', constraint_name, child, child_columns, parent_columns);
BEGIN
  EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', child, constraint_name);
  EXECUTE format(
    'CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS inserted_rows
       FOR EACH STATEMENT EXECUTE FUNCTION check_inserted_references(%s)',
    constraint_name || '_ins', child, args);
  EXECUTE format(
    'CREATE TRIGGER %I BEFORE UPDATE OF %s ON %I
       FOR EACH ROW EXECUTE FUNCTION check_updated_reference(%s)',
    constraint_name || '_upd', child_columns, child, args);
  EXECUTE format(
    'CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS removed_rows
       FOR EACH STATEMENT EXECUTE FUNCTION check_deleted_references(%s)',
    constraint_name || '_del', parent, back);
  EXECUTE format(
    'CREATE TRIGGER %I BEFORE UPDATE OF %s ON %I
       FOR EACH ROW EXECUTE FUNCTION check_changed_key(%s)',
    constraint_name || '_key', parent_columns, parent, back);
END $$;

SELECT pg_temp.set_based_reference('registrations', 'registrations_candidate_id_fkey', 'candidate_id', 'roster', 'candidate_id');
SELECT pg_temp.set_based_reference('registrations', 'registrations_account_id_fkey', 'account_id', 'accounts', 'account_id');
SELECT pg_temp.set_based_reference('registrations', 'registrations_province_code_fkey', 'province_code', 'provinces', 'province_code');
SELECT pg_temp.set_based_reference('registrations', 'registrations_campus_id_fkey', 'campus_id', 'campuses', 'campus_id');
SELECT pg_temp.set_based_reference('registration_items', 'registration_items_candidate_id_fkey', 'candidate_id', 'roster', 'candidate_id');
SELECT pg_temp.set_based_reference('registration_items', 'registration_items_subject_fkey', 'subject,kind,level', 'subjects', 'subject,kind,level');
SELECT pg_temp.set_based_reference('registration_items', 'registration_items_campus_subject_fkey', 'campus_id,subject', 'campus_capacity', 'campus_id,subject');
SELECT pg_temp.set_based_reference('payment_orders', 'payment_orders_candidate_id_fkey', 'candidate_id', 'roster', 'candidate_id');
SELECT pg_temp.set_based_reference('payment_order_items', 'payment_order_items_order_id_fkey', 'order_id', 'payment_orders', 'order_id');
SELECT pg_temp.set_based_reference('payment_order_items', 'payment_order_items_item_id_fkey', 'item_id', 'registration_items', 'item_id');
