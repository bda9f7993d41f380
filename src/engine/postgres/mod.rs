//! PostgreSQL, spoken natively through the protocol: no pg_dump on the
//! machine and no client/server version mismatch, for servers 12 to 18.

pub mod admin;
mod binary;
pub mod catalog;
pub mod connect;
pub mod copy;
pub mod guard;
pub mod kind;
pub mod large_objects;
pub mod leftovers;
pub mod locks;
pub mod printed;
pub mod rows;
pub mod schema_member;
pub mod scratch;
pub mod select;
pub mod swap;

use super::{BeforeChange, Engine, EngineOptions, Inspection, MIGRATION_TABLES, RestoreSummary};
use crate::archive::manifest::{DatabaseManifest, Member, Migration, SchemaObject, SequencePosition, TableStats};
use crate::archive::reader::SetSource;
use crate::archive::writer::Staging;
use crate::digest::{schema_fingerprint, sha256_hex};
use crate::engine::postgres::rows::Value;
use crate::progress::Reporter;
use anyhow::{Context, Result, bail};
use catalog::{Catalog, Item};
use connect::Target;
use postgres::Client;
use schema_member::{Object, Schema, SchemaItem, members_of};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct PostgresEngine {
    name: String,
    target: Target,
    options: EngineOptions,
    /// In a local scratch cluster: who creates the set's extensions.
    extension_admin: Option<std::sync::Arc<admin::ScratchAdmin>>,
    /// A scratch cluster's superuser, on the restore's database: makes the
    /// trigger switches only a superuser may make, rebuilt by lifeboat
    /// from their names (see `HowToRun`).
    superuser: Option<Target>,
}

const USER_OBJECTS: &str = "SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_class'::pg_catalog.regclass AND e.objid = c.oid AND e.deptype = 'e')) \
    + (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
    WHERE n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_proc'::pg_catalog.regclass AND e.objid = p.oid AND e.deptype = 'e')) \
    + (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)";

impl PostgresEngine {
    pub fn new(name: Option<String>, url: &str, options: EngineOptions) -> Result<PostgresEngine> {
        let target = connect::parse(url, &connect::process_env)?;
        let name = crate::archive::safe_component(name.as_deref().unwrap_or(&target.dbname));
        Ok(PostgresEngine {
            name,
            target,
            options,
            extension_admin: None,
            superuser: None,
        })
    }

    /// An engine for a target already resolved (a scratch database).
    pub fn from_target(name: String, target: Target, options: EngineOptions) -> PostgresEngine {
        PostgresEngine {
            name,
            target,
            options,
            superuser: None,
            extension_admin: None,
        }
    }

    /// A restore whose extensions the scratch cluster's admin creates (see
    /// [`admin`]); it runs without one enclosing transaction, so the
    /// admin sees the schemas the set made before.
    pub fn with_extension_admin(mut self, admin: std::sync::Arc<admin::ScratchAdmin>) -> PostgresEngine {
        self.extension_admin = Some(admin);
        self
    }

    /// Lets `superuser` (a scratch cluster's own, connected to the restore's
    /// database) make, once a restore into it is committed, the trigger
    /// switches and extension comments the restoring role may not. Such a
    /// statement runs no code, and no event trigger can fire on it: only a
    /// superuser may make one, and the set's SQL never runs as one.
    pub fn with_superuser(mut self, superuser: Option<Target>) -> PostgresEngine {
        self.superuser = superuser;
        self
    }

    fn jobs(&self) -> usize {
        self.options.jobs.max(1)
    }
}

/// The schema's own objects (not sequence values or refreshes), in
/// restore order.
fn structural_items(cat: &Catalog) -> impl Iterator<Item = &Item> {
    cat.pre_data
        .iter()
        .chain(&cat.indexes)
        .chain(&cat.post_data)
        .chain(&cat.foreign_keys)
        .chain(&cat.last)
        .filter(|i| i.structural)
}

/// Structural items as schema objects, and their fingerprint.
fn schema_objects(cat: &Catalog) -> (Vec<SchemaObject>, String) {
    let objects: Vec<SchemaObject> = structural_items(cat)
        .map(|i| SchemaObject {
            kind: i.kind.to_string(),
            name: i.name.clone(),
            sha256: sha256_hex(i.sql.as_bytes()),
            sql: Some(i.sql.clone()),
        })
        .collect();
    let fingerprint = schema_fingerprint(&objects);
    (objects, fingerprint)
}

/// About what a database adds to the manifest, a little over: every
/// schema object's SQL (escaped, indented), every table's stats and about
/// one data member per 64 MB of table. The set keeps this much room before
/// its members for the manifest, which is written last.
fn manifest_estimate(cat: &Catalog) -> u64 {
    let objects: u64 = structural_items(cat)
        .map(|i| (i.sql.len() + i.name.len()) as u64 * 3 / 2 + 256)
        .sum();
    let tables: u64 = cat
        .tables
        .iter()
        .map(|t| 1024 + 512 * (t.bytes.max(0) as u64 / copy::CHUNK_BYTES + 1))
        .sum();
    8192 + objects + tables
}

/// The migration revision, from the first migration table that answers.
/// Each probe runs under a savepoint: a table that only shares a name with
/// a migration table fails its query, and that failure must not abort the
/// backup's transaction (everything after it would then fail, or a COMMIT
/// would quietly roll back).
fn migration(client: &mut Client, cat: &Catalog) -> Result<Option<Migration>> {
    for (table, query) in MIGRATION_TABLES {
        let Some(t) = cat.tables.iter().find(|t| t.display.rsplit('.').next() == Some(table)) else {
            continue;
        };
        let sql = query.replacen(&format!("FROM {table}"), &format!("FROM {}", t.qualified), 1);
        client
            .batch_execute("SAVEPOINT lifeboat_migration")
            .context("probing the migration table")?;
        let revisions: Vec<String> = match client.query(sql.as_str(), &[]) {
            Ok(rows) => rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect(),
            Err(_) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT lifeboat_migration")
                    .context("probing the migration table")?;
                continue;
            }
        };
        client
            .batch_execute("RELEASE SAVEPOINT lifeboat_migration")
            .context("probing the migration table")?;
        if !revisions.is_empty() {
            return Ok(Some(Migration {
                table: table.to_string(),
                revision: revisions.join(","),
            }));
        }
    }
    Ok(None)
}

/// How long a backup waits for a table lock when not told.
const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn lock_target(t: &catalog::TableData) -> locks::LockTarget {
    locks::LockTarget {
        oid: t.oid,
        qualified: t.qualified.clone(),
        display: t.display.clone(),
    }
}

/// Writes one section's script, and keeps its items for schema.json.
fn write_section(
    staging: &Staging,
    database: &str,
    section: &str,
    items: &[Item],
    schema: &mut Vec<SchemaItem>,
) -> Result<Member> {
    let items: Vec<SchemaItem> = items.iter().map(|i| SchemaItem::new(section, i)).collect();
    let member = schema_member::write_script(staging, database, section, &items)?;
    schema.extend(items);
    Ok(member)
}

/// Explains objects the engine cannot carry, and stops.
fn refuse_unsupported(cat: &Catalog, source: &str) -> Result<()> {
    if cat.unsupported.is_empty() {
        return Ok(());
    }
    let any = |what: &str| cat.unsupported.iter().any(|u| u.contains(what));
    // What to do, for each kind found.
    let mut advice = Vec::new();
    if any(" in tablespace ") {
        advice.push(
            "for tablespaces, back up with --no-tablespaces to restore those tables and indexes into the target's default tablespace \
             (as pg_dump --no-tablespaces), or leave them out (--exclude-table, --exclude-schema)",
        );
    }
    if any("function in C or internal code") {
        advice.push(
            "for C or internal functions, install them as an extension (CREATE EXTENSION, which lifeboat carries), \
             or leave out the schema that holds them (--exclude-schema)",
        );
    }
    if any("subscription ") {
        advice.push(
            "for subscriptions, which name a server a restore would connect to, drop them before the backup and create them again after a restore",
        );
    }
    if any("security label ") {
        advice.push("for security labels, which need their provider loaded wherever the set is restored, use pg_dump");
    }
    // Every object, however many: a list cut short hides what to fix.
    bail!(
        "{source} holds objects lifeboat cannot back up, so the backup would not restore the same database: {}. \
         What to do: {}; or use pg_dump for this database",
        cat.unsupported.join("; "),
        advice.join("; ")
    )
}

/// Stops where policies would hide rows: a backup that holds only the
/// rows one role may see would restore to another database, silently.
fn refuse_filtered_rows(client: &mut Client, cat: &Catalog, source: &str) -> Result<()> {
    let filtered = catalog::filtered_by_policies(client, &cat.tables)?;
    if !filtered.is_empty() {
        bail!(
            "row-level security would hide rows of {} from this role on {source}: back up as a superuser, a role with BYPASSRLS, \
             or the tables' owner (and not with FORCE ROW LEVEL SECURITY), or leave them out with --exclude-table",
            filtered.join(", ")
        );
    }
    Ok(())
}

/// Whether a database holds anything of its own: objects outside
/// extensions, or rows of its own in an extension's configuration tables
/// (which a restore would add to).
fn holds_objects(client: &mut Client) -> Result<bool> {
    if client.query_one(USER_OBJECTS, &[])?.value::<i64>(0)? > 0 {
        return Ok(true);
    }
    let configs = client.query(
        "SELECT pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s %s)', x.config::pg_catalog.regclass, x.condition) \
         FROM pg_catalog.pg_extension e, LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(config, condition) \
         JOIN pg_catalog.pg_class c ON c.oid = x.config WHERE c.relkind = 'r'",
        &[],
    )?;
    for query in configs {
        if client
            .query_one(query.value::<String>(0)?.as_str(), &[])?
            .value::<bool>(0)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Engine for PostgresEngine {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn redacted_source(&self) -> String {
        self.target.redacted.clone()
    }

    fn backup(&self, staging: &Staging, reporter: &Reporter) -> Result<DatabaseManifest> {
        let source = &self.target.redacted;
        let mut main = self.target.connect()?;
        // Any run that reaches a server clears what killed runs left there;
        // once the server has answered, so a server that does not answer
        // is named by the backup's own connection.
        leftovers::sweep(&self.target, reporter);
        main.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let snapshot: Option<String> = if self.jobs() > 1 {
            match main.query_one("SELECT pg_catalog.pg_export_snapshot()", &[]) {
                Ok(r) => Some(r.try_get(0)?),
                Err(e) => {
                    reporter.warn(&format!(
                        "the server refused to share its snapshot ({e}); dumping over one connection"
                    ));
                    main.batch_execute("ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
                    None
                }
            }
        } else {
            None
        };
        // The patterns name relations once, in the snapshot, so locks and
        // catalog choose the same; as pg_dump, a --table or --schema that
        // names nothing stops here.
        let chosen = select::Chosen::resolve(&mut main, &self.options.selection)?;
        for pattern in &chosen.unmatched {
            reporter.warn(&format!("{pattern} matches nothing in {source}"));
        }
        // As pg_dump does: list the chosen tables cheaply, lock them all,
        // and only then read the schema, so no table changes between the
        // schema read and its rows. An exclusive lock someone else holds
        // makes this wait at most --lock-wait-timeout, then fail naming it.
        let wait = self.options.lock_wait_timeout.unwrap_or(DEFAULT_LOCK_WAIT);
        let mut locked = std::collections::HashSet::new();
        if !self.options.schema_only {
            let tables = locks::chosen_tables(&mut main, &chosen)?;
            locks::lock_tables(&mut main, &self.target, &tables, wait, source)?;
            locked.extend(tables.iter().map(|t| t.oid));
        }
        let cat = catalog::read(
            &mut main,
            &chosen,
            self.options.with_privileges,
            self.options.no_tablespaces,
        )
        .with_context(|| format!("reading the schema of {source}"))?;
        refuse_unsupported(&cat, source)?;
        // Rows alone need no schema, so nothing they stand on is missing.
        if !cat.selection_gaps.is_empty() && !self.options.data_only {
            crate::usage_bail!(
                "the table selection would back up a schema that does not restore as it stands: {}. \
                 Choose the tables they need too (--table), leave these out as well (--exclude-table), or take rows alone (--data-only)",
                cat.selection_gaps.join("; ")
            );
        }
        if !self.options.schema_only {
            refuse_filtered_rows(&mut main, &cat, source)?;
            // Whatever the catalog chose beyond the cheap listing is locked too.
            let more: Vec<locks::LockTarget> = cat
                .tables
                .iter()
                .filter(|t| !locked.contains(&t.oid))
                .map(lock_target)
                .collect();
            locks::lock_tables(&mut main, &self.target, &more, wait, source)?;
        }
        staging.reserve_manifest(manifest_estimate(&cat));
        let mut members = Vec::new();
        let mut schema = Vec::new();
        if !self.options.data_only {
            members.push(write_section(
                staging,
                &self.name,
                "pre-data",
                &cat.pre_data,
                &mut schema,
            )?);
        }
        let mut tables: Vec<TableStats> = Vec::new();
        if !self.options.schema_only {
            let (data_members, stats) = self.dump_data(&mut main, snapshot.as_deref(), &cat, staging, reporter)?;
            members.extend(data_members);
            tables = stats;
        }
        let mut roles = cat.roles.clone();
        let large_objects = if large_objects::wanted(
            self.options.large_objects,
            &self.options.selection,
            self.options.schema_only,
        ) {
            let (member, stats, owners) =
                large_objects::dump(&mut main, staging, &self.name, self.options.with_privileges)
                    .with_context(|| format!("dumping the large objects of {source}"))?;
            members.push(member);
            roles.extend(owners);
            roles.sort();
            roles.dedup();
            Some(stats)
        } else {
            let left = if self.options.schema_only {
                0
            } else {
                large_objects::count(&mut main)?
            };
            if left > 0 {
                reporter.info(&if self.options.large_objects == Some(false) {
                    format!("{left} large objects left out (--no-large-objects)")
                } else {
                    format!(
                        "{left} large objects left out, as pg_dump leaves them out of a dump of chosen tables or schemas; --large-objects takes them"
                    )
                });
            }
            None
        };
        let migration = migration(&mut main, &cat)?;
        let mut post = cat.post_data.clone();
        let sequences = sequence_positions(&mut main, &cat)?;
        for position in &sequences {
            post.push(Item {
                needs: Vec::new(),
                kind: "sequence value",
                name: position.name.clone(),
                sql: setval(position),
                structural: false,
                key: None,
            });
        }
        if !self.options.data_only {
            members.push(write_section(
                staging,
                &self.name,
                "indexes",
                &cat.indexes,
                &mut schema,
            )?);
            members.push(write_section(staging, &self.name, "post-data", &post, &mut schema)?);
            members.push(write_section(
                staging,
                &self.name,
                "foreign-keys",
                &cat.foreign_keys,
                &mut schema,
            )?);
            // pg_dump --schema-only leaves materialized views unfilled.
            let last: Vec<Item> = cat
                .last
                .iter()
                .filter(|i| !(self.options.schema_only && i.kind == "refresh"))
                .cloned()
                .collect();
            members.push(write_section(staging, &self.name, "last", &last, &mut schema)?);
        } else {
            let values: Vec<Item> = post.into_iter().filter(|i| i.kind == "sequence value").collect();
            members.push(write_section(staging, &self.name, "post-data", &values, &mut schema)?);
        }
        // First in the manifest's list of the database's members: the
        // plan a restore reads before it looks for any rows.
        members.insert(0, schema_member::write_json(staging, &self.name, schema)?);
        // A statement that failed unnoticed would have aborted the
        // transaction, and COMMIT would then quietly roll back: ask once more.
        main.batch_execute("SELECT 1")
            .context("the backup's transaction was aborted by an earlier error")?;
        main.batch_execute("COMMIT")?;
        let (schema_objects, schema_fingerprint) = schema_objects(&cat);
        Ok(DatabaseManifest {
            roles,
            large_objects,
            no_tablespaces: self.options.no_tablespaces,
            name: self.name.clone(),
            engine: "postgresql".into(),
            source: source.clone(),
            server_version: Some(cat.server_version.clone()),
            encoding: Some(cat.encoding.clone()),
            consistent_snapshot: true,
            user_version: None,
            migration,
            schema_fingerprint,
            schema_objects,
            tables,
            sequences,
            members,
        })
    }

    fn inspect(&self) -> Result<Inspection> {
        let mut client = self.target.connect()?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let chosen = select::Chosen::resolve(&mut client, &self.options.selection)?;
        let cat = catalog::read(
            &mut client,
            &chosen,
            self.options.with_privileges,
            self.options.no_tablespaces,
        )?;
        refuse_filtered_rows(&mut client, &cat, &self.target.redacted)?;
        let mut tables = Vec::new();
        for t in &cat.tables {
            let mut t = t.clone();
            // The same columns in another order are the same rows.
            if let Some(order) = self.options.column_order.get(&t.display) {
                let (mut ours, mut theirs) = (t.columns.clone(), order.clone());
                ours.sort();
                theirs.sort();
                if ours == theirs {
                    t.columns = order.clone();
                }
            }
            tables.push(copy::read_rows(&mut client, &t, |_| Ok(()))?);
        }
        let migration = migration(&mut client, &cat)?;
        let large_objects = if large_objects::wanted(
            self.options.large_objects,
            &self.options.selection,
            self.options.schema_only,
        ) {
            Some(large_objects::inspect(&mut client, self.options.with_privileges)?)
        } else {
            None
        };
        let sequences = sequence_positions(&mut client, &cat)?;
        client.batch_execute("COMMIT")?;
        let (schema_objects, schema_fingerprint) = schema_objects(&cat);
        Ok(Inspection {
            tables,
            sequences,
            schema_objects,
            schema_fingerprint,
            migration,
            large_objects,
        })
    }

    fn target_exists(&self) -> Result<bool> {
        let mut client = match self.target.connect() {
            Ok(c) => c,
            Err(e) if e.is::<connect::MissingDatabase>() => return Ok(false),
            Err(e) => return Err(e),
        };
        holds_objects(&mut client)
    }

    fn restore(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<RestoreSummary> {
        let started = std::time::Instant::now();
        check_scripts(set, database)?;
        if !database.roles.is_empty() && !self.options.data_only {
            self.check_roles(database)?;
        }
        // One restore into a database at a time: a second one refuses.
        let mut lock = locks::lock_restore_target(&self.target)?;
        lock.clean_leftovers(&self.target.dbname, reporter);
        let mut safety_backup = None;
        let mut remember = || -> Result<Option<std::path::PathBuf>> {
            safety_backup = before_change()?;
            Ok(safety_backup.clone())
        };
        let checks = if self.options.create_db {
            self.restore_via_new_database(set, database, &mut remember, reporter)?
        } else {
            self.restore_in_place(set, database, &mut remember, reporter)?
        };
        reporter.log(&format!(
            "restored {} into {} in {:.1}s",
            database.name,
            self.target.redacted,
            started.elapsed().as_secs_f64()
        ));
        let chosen = self.chosen_tables(database)?;
        Ok(RestoreSummary {
            database: database.name.clone(),
            target: self.target.redacted.clone(),
            tables: chosen.len(),
            rows: if self.options.schema_only {
                0
            } else {
                chosen.iter().map(|t| t.rows).sum()
            },
            checks,
            safety_backup,
        })
    }
}

/// Where each sequence of the catalog stands in the snapshot of `client`'s
/// transaction: what a backup records and what compare holds against it.
fn sequence_positions(client: &mut Client, cat: &Catalog) -> Result<Vec<SequencePosition>> {
    cat.sequences
        .iter()
        .map(|seq| {
            let r = client
                .query_one(
                    format!("SELECT last_value, is_called FROM {}", seq.qualified).as_str(),
                    &[],
                )
                .with_context(|| format!("reading sequence {}", seq.qualified))?;
            Ok(SequencePosition {
                name: seq.qualified.clone(),
                last_value: r.try_get(0)?,
                is_called: r.try_get(1)?,
                tables: seq.tables.clone(),
            })
        })
        .collect()
}

/// The statement that puts a sequence where `position` says.
pub fn setval(position: &SequencePosition) -> String {
    format!(
        "SELECT pg_catalog.setval({}, {}, {});",
        catalog::quote_literal(&position.name),
        position.last_value,
        position.is_called
    )
}

/// Reads and checks a database's whole schema (and the table of every
/// data member) before a restore changes anything: a refused statement, or
/// a schema.json that disagrees with its scripts, stops it before the
/// first statement runs.
fn check_scripts(set: &SetSource, database: &DatabaseManifest) -> Result<()> {
    Schema::load(set, database)?;
    if let Some((member, why)) = schema_member::twin_mismatches(set, database)?.into_iter().next() {
        bail!(
            "{}: {why}, so nothing of it was run",
            crate::github::workflow::neutralize(&member)
        );
    }
    for m in members_of(database, "data") {
        let table = m.table.as_deref().unwrap_or_default();
        database.table(table).with_context(|| {
            format!(
                "{} holds rows of a table the manifest does not list: the set was altered",
                crate::github::workflow::neutralize(&m.path)
            )
        })?;
    }
    // Every listed table's name must requote, and each table's rows are
    // loaded, counted and checked as its own: two entries for one table
    // would load into it twice.
    let mut seen = HashSet::new();
    for t in &database.tables {
        let name = t.sql_name.as_deref().unwrap_or(&t.name);
        if !seen.insert(guard::requote(name)?) {
            bail!(
                "the manifest lists table {} twice: the set was altered, so nothing of it was run",
                crate::github::workflow::neutralize(name)
            );
        }
    }
    Ok(())
}

/// Runs one section of the schema statement by statement, each through
/// the extended protocol, which refuses a string holding two statements:
/// what runs is exactly what the guard checked. An extension statement
/// goes to the scratch cluster's admin where there is one.
fn run_section(client: &mut Client, schema: &Schema, section: &str, how: HowToRun<'_>) -> Result<()> {
    let running = || format!("running the {section} section");
    for statement in schema.section(section).statements() {
        if let Some(admin) = how.admin
            && (admin.run(statement).with_context(running)?
                || admin
                    .routine(client, statement, |c, s| run_checked(c, s, how))
                    .with_context(running)?)
        {
            continue;
        }
        run_checked(client, statement, how).with_context(running)?;
    }
    Ok(())
}

/// How a restore runs a set's statements. Besides the restoring role's own
/// rights, what they may lean on, so that a restore by a role that is no
/// superuser (the scratch cluster's, always) ends where a superuser's
/// `pg_dump | psql` ends; the set's SQL itself never runs with more than
/// the role's rights.
#[derive(Clone, Copy, Default)]
struct HowToRun<'a> {
    /// `--schema-only`: materialized views are left unfilled, as
    /// `pg_dump --schema-only` leaves them.
    schema_only: bool,
    /// The restoring role is no superuser: a new owner that lacks CREATE
    /// on its object's schema is lent it for its `ALTER ... OWNER TO`.
    lend_create: bool,
    /// Inside the restore's transaction: trigger switches only a superuser
    /// may make are put aside here, for the scratch cluster's superuser
    /// once the restore is committed.
    superuser_steps: Option<&'a Mutex<Vec<String>>>,
    /// Not inside one transaction (a scratch restore whose extensions the
    /// cluster's admin makes): no savepoint around a trigger switch.
    statement_by_statement: bool,
    /// The scratch cluster's admin, who makes the set's extensions.
    admin: Option<&'a admin::ScratchAdmin>,
    /// The restoring role is a superuser.
    superuser: bool,
    /// Where what a restore leaves out is told.
    reporter: Option<&'a Reporter>,
}

impl HowToRun<'_> {
    /// The how of the role `client` is connected as, for `database`.
    fn of<'r>(client: &mut Client, database: &DatabaseManifest, reporter: &'r Reporter) -> Result<HowToRun<'r>> {
        let superuser = client
            .query_one(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .and_then(|r| r.try_get::<_, bool>(0))
            .context("asking whether the restoring role is a superuser")?;
        Ok(HowToRun {
            schema_only: false,
            // Only a set with owners has owner changes to make.
            lend_create: !database.roles.is_empty() && !superuser,
            superuser_steps: None,
            statement_by_statement: false,
            admin: None,
            superuser,
            reporter: Some(reporter),
        })
    }
}

/// Runs one checked statement of a set, with what `how` allows.
fn run_checked(client: &mut Client, statement: &guard::Statement, how: HowToRun<'_>) -> Result<()> {
    if how.schema_only
        && matches!(statement.tokens.first(), Some(guard::Token::Word { upper, .. }) if upper == "REFRESH")
    {
        return Ok(());
    }
    // pg_catalog's objects are initdb's: a role that is no superuser may
    // change their privileges no more than pg_restore run by it could,
    // which reports them and goes on. Told, not tried: a failed statement
    // would undo the restore's transaction. In a scratch cluster it fails,
    // and the set is said to be unproven there.
    if !how.superuser && how.admin.is_none() && guard::grant_on_pg_catalog(statement) {
        if let Some(reporter) = how.reporter {
            reporter.warn(&format!(
                "left out {}: privileges on pg_catalog's objects are initdb's, and only a superuser may change them; \
                 restore as a superuser to carry them",
                guard::shown(&statement.text)
            ));
        }
        return Ok(());
    }
    if how.lend_create
        && let Some(change) = guard::owner_change(statement)
    {
        return change_owner(client, &statement.text, &change);
    }
    if let Some(steps) = how.superuser_steps
        && let Some(switch) = guard::trigger_switch(statement).or_else(|| guard::extension_comment(statement))
    {
        // Up to PostgreSQL 14 a partition's copy of its parent's trigger
        // is internal, and switching it (or its parent's trigger, which
        // recurses to the copies on 12) is a superuser's right alone; so
        // is a comment on an extension the scratch cluster's superuser made.
        crate::cancel::check()?;
        if how.statement_by_statement {
            return match client.execute(statement.text.as_str(), &[]) {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                    steps.lock().expect("superuser steps").push(switch);
                    Ok(())
                }
                Err(e) => Err(statement_error(&statement.text, &e)),
            };
        }
        client.batch_execute("SAVEPOINT lifeboat_trigger_switch")?;
        return match client.execute(statement.text.as_str(), &[]) {
            Ok(_) => Ok(client.batch_execute("RELEASE SAVEPOINT lifeboat_trigger_switch")?),
            Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                client.batch_execute(
                    "ROLLBACK TO SAVEPOINT lifeboat_trigger_switch; RELEASE SAVEPOINT lifeboat_trigger_switch",
                )?;
                steps.lock().expect("superuser steps").push(switch);
                Ok(())
            }
            Err(e) => Err(statement_error(&statement.text, &e)),
        };
    }
    run_statement(client, &statement.text)
}

/// An owner change whose new owner lacks CREATE on the object's schema,
/// as a superuser's `ALTER ... OWNER TO` leaves them and only a superuser
/// may make them: CREATE is lent to the owner for this one statement and
/// taken back, where the restoring role may grant it (it owns the schema,
/// or is a member of its owner). Otherwise the statement runs as it is.
fn change_owner(client: &mut Client, statement: &str, change: &guard::OwnerChange) -> Result<()> {
    let lend = client
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2) \
             AND NOT pg_catalog.has_schema_privilege($2::text::pg_catalog.name, n.oid, 'CREATE') \
             AND pg_catalog.has_schema_privilege(n.oid, 'CREATE WITH GRANT OPTION') \
             FROM pg_catalog.pg_namespace n WHERE n.nspname = $1::text::pg_catalog.name",
            &[&change.schema, &change.role],
        )
        .context("asking whether a new owner may create in its object's schema")?
        .map(|r| r.try_get::<_, bool>(0))
        .transpose()?
        .unwrap_or(false);
    if !lend {
        return run_statement(client, statement);
    }
    let (schema, role) = (guard::quote_ident(&change.schema), guard::quote_ident(&change.role));
    client
        .batch_execute(&format!("GRANT CREATE ON SCHEMA {schema} TO {role}"))
        .with_context(|| format!("lending CREATE on schema {schema} to {role} for its owner change"))?;
    run_statement(client, statement)?;
    client
        .batch_execute(&format!("REVOKE CREATE ON SCHEMA {schema} FROM {role}"))
        .with_context(|| format!("taking back CREATE on schema {schema} from {role}"))?;
    Ok(())
}

/// Loads data members of one table: in binary where `binary` has a row
/// format for the table, or as text. Rows whose members do not all
/// convert, or that the server does not take in binary, load again as text
/// (a COPY that fails takes no rows, and `members` go in together or not
/// at all), and so does the rest of the table; a damaged member or a
/// cancelled run stops. With `freeze` the table is emptied and its rows go
/// in frozen, in one transaction: only for a table this restore created,
/// in a database nobody else uses yet. `loaded` hears of each member
/// that went in, for progress.
fn load_rows(
    client: &mut Client,
    set: &SetSource,
    database: &DatabaseManifest,
    members: &[&Member],
    binary: &binary::Plans,
    freeze: bool,
    loaded: &dyn Fn(&Member),
) -> Result<u64> {
    let Some(first) = members.first() else {
        return Ok(0);
    };
    let table = database
        .table(first.table.as_deref().unwrap_or_default())
        .with_context(|| {
            format!(
                "{} holds rows of a table the manifest does not list: the set was altered",
                crate::github::workflow::neutralize(&first.path)
            )
        })?;
    // Binary where it may go, else text; frozen where the table may be
    // emptied in the transaction (its owner or a superuser), else as
    // pg_restore sends rows.
    let mut format = binary.format(&table.name);
    let mut freeze = freeze && !binary.in_transaction;
    // Members an earlier attempt already reported: a retry loads them
    // again, but progress hears of each once.
    let mut reported = 0;
    loop {
        // A failed attempt must leave nothing behind: inside the restore's
        // transaction it is undone to a savepoint, and several members or
        // a truncation go in a transaction of their own.
        let guarded = if binary.in_transaction {
            Some((
                "SAVEPOINT lifeboat_rows",
                "RELEASE SAVEPOINT lifeboat_rows",
                "ROLLBACK TO SAVEPOINT lifeboat_rows; RELEASE SAVEPOINT lifeboat_rows",
            ))
        } else if freeze || members.len() > 1 {
            Some(("BEGIN", "COMMIT", "ROLLBACK"))
        } else {
            None
        };
        let mut emptied = false;
        let result = (|| -> Result<u64> {
            if let Some((begin, _, _)) = guarded {
                client.batch_execute(begin)?;
            }
            if freeze {
                // Emptying loses nothing only where there is nothing yet.
                // The lock comes first: rows another connection was still
                // sending into the table would then be committed and seen,
                // not emptied once they are.
                let quoted = guard::requote(table.sql_name.as_deref().unwrap_or(&table.name))?;
                client.batch_execute(&format!("LOCK TABLE ONLY {quoted} IN ACCESS EXCLUSIVE MODE"))?;
                let holds_rows: bool = client
                    .query_one(&format!("SELECT EXISTS (SELECT 1 FROM ONLY {quoted})"), &[])?
                    .try_get(0)?;
                if holds_rows {
                    bail!("{} holds rows before its own are loaded", table.name);
                }
                client.batch_execute(&format!("TRUNCATE ONLY {quoted}"))?;
                emptied = true;
            }
            let mut rows = 0;
            for (i, m) in members.iter().enumerate() {
                // Read, hashed and inflated on a thread of its own, ahead of
                // this connection's COPY.
                rows += copy::load_member(client, table, set.open_ahead(&m.path)?, format, freeze)
                    .with_context(|| format!("loading {}", m.path))?;
                if i >= reported {
                    loaded(m);
                    reported = i + 1;
                }
            }
            if let Some((_, commit, _)) = guarded {
                client.batch_execute(commit)?;
            }
            Ok(rows)
        })();
        let e = match result {
            Ok(rows) => return Ok(rows),
            Err(e) if crate::cancel::is_cancelled(&e).is_some() || crate::archive::reader::is_member_damaged(&e) => {
                return Err(e);
            }
            Err(e) => e,
        };
        let retry_as_text = format.is_some() && emptied == freeze;
        if !retry_as_text && !freeze {
            return Err(e);
        }
        if let Some((_, _, undo)) = guarded {
            // A connection that cannot even undo tells why it failed.
            if client.batch_execute(undo).is_err() {
                return Err(e);
            }
        }
        if retry_as_text {
            binary.fall_back(&table.name);
            format = None;
        } else {
            // Not emptied, or its rows refused frozen even as text.
            freeze = false;
        }
    }
}

impl PostgresEngine {
    fn wanted_table(&self, name: &str) -> bool {
        self.options.restore_tables.is_empty() || self.options.restore_tables.iter().any(|p| select::matches(p, name))
    }

    fn dump_data(
        &self,
        main: &mut Client,
        snapshot: Option<&str>,
        cat: &Catalog,
        staging: &Staging,
        reporter: &Reporter,
    ) -> Result<(Vec<Member>, Vec<TableStats>)> {
        let mut order: Vec<usize> = (0..cat.tables.len()).collect();
        // Largest first, so the last table to finish is a small one.
        order.sort_by_key(|&i| std::cmp::Reverse(cat.tables[i].bytes));
        let queue = Mutex::new(order);
        let results: Mutex<Vec<(usize, Vec<Member>, TableStats)>> = Mutex::new(Vec::new());
        let failed = AtomicBool::new(false);
        let task = reporter.task(&format!("dumping {}", self.name), None);
        // `worker`: a connection that joined the snapshot and holds no
        // locks yet; it takes each table's lock with NOWAIT (see
        // locks::lock_for_worker).
        let work = |client: &mut Client, worker: bool| -> Result<()> {
            loop {
                if failed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                crate::cancel::check()?;
                let Some(i) = queue.lock().expect("queue").pop() else {
                    return Ok(());
                };
                let table = &cat.tables[i];
                let dumped = if worker {
                    locks::lock_for_worker(client, &self.target, &lock_target(table), &self.target.redacted)
                } else {
                    Ok(())
                }
                .and_then(|()| copy::dump_table(client, table, staging, &self.name, i + 1, &task));
                match dumped {
                    Ok((members, stats)) => results.lock().expect("results").push((i, members, stats)),
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
            }
        };
        let errors: Vec<anyhow::Error> = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            if let Some(snapshot) = snapshot {
                for _ in 1..self.jobs().min(cat.tables.len().max(1)) {
                    let work = &work;
                    let target = &self.target;
                    handles.push(scope.spawn(move || -> Result<()> {
                        let mut client = target.connect()?;
                        client.batch_execute(&format!(
                            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                            catalog::quote_literal(snapshot)
                        ))?;
                        work(&mut client, true)?;
                        client.batch_execute("COMMIT")?;
                        Ok(())
                    }));
                }
            }
            let mut errors = Vec::new();
            if let Err(e) = work(main, false) {
                errors.push(e);
            }
            for h in handles {
                match h.join() {
                    Ok(Err(e)) => {
                        // A worker that could not join the snapshot leaves
                        // its share to the others; a failed table is fatal.
                        if failed.load(Ordering::SeqCst) || crate::cancel::is_cancelled(&e).is_some() {
                            errors.push(e);
                        } else {
                            reporter.warn(&format!(
                                "a parallel worker could not start ({e:#}); the others carry on"
                            ));
                        }
                    }
                    Ok(Ok(())) => {}
                    Err(_) => errors.push(anyhow::anyhow!("a dump worker panicked")),
                }
            }
            errors
        });
        task.finish();
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        // Workers that failed to start leave tables in the queue.
        let left: Vec<usize> = std::mem::take(&mut *queue.lock().expect("queue"));
        let mut results = results.into_inner().expect("results");
        for i in left {
            let (m, s) = copy::dump_table(main, &cat.tables[i], staging, &self.name, i + 1, &task)?;
            results.push((i, m, s));
        }
        results.sort_by_key(|r| r.0);
        let mut members = Vec::new();
        let mut stats = Vec::new();
        for (_, m, s) in results {
            members.extend(m);
            stats.push(s);
        }
        Ok((members, stats))
    }

    /// Restores into the existing target in one transaction: a failure at
    /// any point rolls back and leaves the database as it was.
    fn restore_in_place(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<Vec<String>> {
        let mut client = match self.target.connect() {
            Ok(c) => c,
            Err(e) if e.is::<connect::MissingDatabase>() => {
                return Err(e.context(format!(
                    "database {} does not exist: create it, or pass --create-db",
                    self.target.dbname
                )));
            }
            Err(e) => return Err(e),
        };
        let non_empty = holds_objects(&mut client)?;
        let plan = if self.rows_only(database) {
            Plan::AddRows
        } else if non_empty && !self.options.restore_tables.is_empty() && !self.options.schema_only {
            Plan::ReplaceRows
        } else {
            self.check_references(database)?;
            Plan::Everything
        };
        if plan != Plan::Everything {
            self.check_tables_exist(&mut client, database)?;
        }
        // The whole set over the target: built beside it over --jobs
        // connections and swapped in where that ends the same, else in one
        // transaction here. Either way a failure leaves the target as it was.
        if plan == Plan::Everything && self.jobs() > 1 {
            let why = match self.beside_plan(&mut client)? {
                Ok(like) => {
                    reporter.info(&format!(
                        "restoring beside {} over {} connections, to be swapped in once complete and checked",
                        self.target.redacted,
                        self.jobs()
                    ));
                    // Our own session would keep the target from being renamed.
                    drop(client);
                    match self.restore_beside(set, database, before_change, reporter, Some(&like))? {
                        Beside::Done(mut checks) => {
                            checks.insert(
                                0,
                                format!(
                                    "restored beside the target over {} connections and swapped in",
                                    self.jobs()
                                ),
                            );
                            return Ok(checks);
                        }
                        Beside::Refused(why) => {
                            client = self.target.connect()?;
                            why
                        }
                    }
                }
                Err(why) => why,
            };
            reporter.info(&format!(
                "restoring into {} in one transaction over one connection: {why}",
                self.target.redacted
            ));
            let checks =
                self.restore_in_one_transaction(client, set, database, plan, non_empty, before_change, reporter)?;
            return Ok(std::iter::once(format!("restored in one transaction ({why})"))
                .chain(checks)
                .collect());
        }
        self.restore_in_one_transaction(client, set, database, plan, non_empty, before_change, reporter)
    }

    /// The target's own restore: everything in one transaction, so a
    /// failure at any point rolls back.
    #[allow(clippy::too_many_arguments)]
    fn restore_in_one_transaction(
        &self,
        mut client: Client,
        set: &SetSource,
        database: &DatabaseManifest,
        plan: Plan,
        non_empty: bool,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<Vec<String>> {
        before_change()?;
        // A scratch restore whose extensions the cluster's admin makes
        // runs statement by statement: the admin's connection must see the
        // schemas the set made before, and a throw-away database needs no
        // all-or-nothing.
        let atomic = self.extension_admin.is_none();
        if atomic {
            client.batch_execute("BEGIN")?;
        }
        if non_empty && plan == Plan::Everything {
            reporter.info(&format!(
                "dropping what {} holds before restoring (--clean)",
                self.target.redacted
            ));
            clean(&mut client)?;
        }
        let superuser_steps = Mutex::new(Vec::new());
        let how = HowToRun {
            schema_only: self.options.schema_only,
            superuser_steps: self.superuser.as_ref().map(|_| &superuser_steps),
            statement_by_statement: !atomic,
            admin: self.extension_admin.as_deref(),
            ..HowToRun::of(&mut client, database, reporter)?
        };
        let loaded = self.load(&mut client, set, database, plan, how, atomic, reporter)?;
        let checks = self.check_counts(database, &loaded)?;
        // The whole file against its sidecar, hashed beside the load.
        set.confirm_file()
            .with_context(|| format!("{} was not changed (the restore was rolled back)", self.target.redacted))?;
        if atomic {
            client.batch_execute("COMMIT").context("committing the restore")?;
        }
        self.superuser_steps(superuser_steps.into_inner().expect("superuser steps"), reporter)?;
        Ok(checks)
    }

    /// Makes the trigger switches put aside during the restore, as the
    /// scratch cluster's superuser.
    fn superuser_steps(&self, steps: Vec<String>, reporter: &Reporter) -> Result<()> {
        let Some(superuser) = &self.superuser else {
            return Ok(());
        };
        if steps.is_empty() {
            return Ok(());
        }
        let mut client = superuser.connect()?;
        let event_triggers: i64 = client
            .query_one("SELECT count(*) FROM pg_catalog.pg_event_trigger", &[])?
            .try_get(0)?;
        if event_triggers > 0 {
            bail!(
                "the scratch database holds event triggers, which only a superuser may make: the restore did not run as the restore role alone"
            );
        }
        for step in &steps {
            client
                .batch_execute(step)
                .with_context(|| format!("{} as the scratch cluster's superuser", guard::shown(step)))?;
        }
        reporter.log(&format!(
            "{} statements only a superuser may run (trigger switches, extension comments) were run by the scratch cluster's superuser",
            steps.len()
        ));
        Ok(())
    }

    /// Over one connection: the schema, rows, indexes, post-data and
    /// foreign keys for `Plan::Everything`; rows and sequence positions
    /// otherwise. Returns the rows the server took for each table.
    #[allow(clippy::too_many_arguments)]
    fn load(
        &self,
        client: &mut Client,
        set: &SetSource,
        database: &DatabaseManifest,
        plan: Plan,
        how: HowToRun<'_>,
        in_transaction: bool,
        reporter: &Reporter,
    ) -> Result<Loaded> {
        let mut loaded = Loaded::new();
        let schema = if plan == Plan::Everything {
            Schema::load(set, database)?
        } else {
            Schema::default()
        };
        if plan == Plan::Everything {
            run_section(client, &schema, "pre-data", how)?;
        }
        if plan == Plan::ReplaceRows {
            self.empty_chosen_tables(client, database)?;
        }
        let quiet_triggers = if plan == Plan::Everything {
            Vec::new()
        } else {
            self.quiet_triggers(client, database)?
        };
        if !self.options.schema_only {
            let mut data: Vec<&Member> = self.wanted_data(database).collect();
            if plan != Plan::Everything {
                // The target's foreign keys are in force: parents first.
                let rank = parents_first(&self.chosen_tables(database)?);
                data.sort_by_key(|m| m.table.as_ref().and_then(|t| rank.get(t.as_str())).copied());
            }
            let tables = tables_of(database, &data);
            let binary = binary::Plans::read(client, tables.iter().copied(), in_transaction)?;
            let task = reporter.task(
                &format!("loading {}", database.name),
                Some(data.iter().map(|m| m.raw_size).sum()),
            );
            // Tables this load made take their rows frozen, each table's
            // members in one transaction, unless the restore's own
            // transaction holds them all.
            let freezable = if plan == Plan::Everything && !in_transaction {
                ordinary_tables(client, &tables)?
            } else {
                HashSet::new()
            };
            for members in by_table(&data) {
                let freeze = members[0].table.as_ref().is_some_and(|t| freezable.contains(t));
                let rows = load_rows(client, set, database, &members, &binary, freeze, &|m| {
                    task.inc(m.raw_size)
                })?;
                *loaded.entry(members[0].table.clone().unwrap_or_default()).or_default() += rows;
            }
            task.finish();
            reporter.log(&format!("{}: {}", database.name, binary.summary()));
            if plan != Plan::ReplaceRows {
                self.restore_large_objects(client, set, database, how, reporter)?;
            }
        }
        if plan == Plan::Everything {
            for section in ["indexes", "post-data", "foreign-keys", "last"] {
                run_section(client, &schema, section, how)?;
            }
        } else {
            client.batch_execute(&quiet_triggers.join("\n"))?;
            self.put_back_sequences(client, database)?;
        }
        Ok(loaded)
    }

    /// Puts back the set's large objects, where it has them and the restore
    /// takes them: pg_restore leaves them out with --table and
    /// --schema-only. A count or size other than the manifest's stops it.
    fn restore_large_objects(
        &self,
        client: &mut Client,
        set: &SetSource,
        database: &DatabaseManifest,
        how: HowToRun<'_>,
        reporter: &Reporter,
    ) -> Result<()> {
        let Some(member) = large_objects::member(database) else {
            return Ok(());
        };
        if self.options.schema_only || !self.options.restore_tables.is_empty() {
            return Ok(());
        }
        let restored = large_objects::restore(client, set, member, &mut |client, statement| {
            run_checked(client, statement, how)
        })
        .with_context(|| format!("restoring the large objects of {}", database.name))?;
        reporter.log(&large_objects::check(database, &restored)?);
        Ok(())
    }

    /// The roles a set's owners and grants name must be on the server
    /// before anything changes.
    fn check_roles(&self, database: &DatabaseManifest) -> Result<()> {
        let mut client = match self.target.connect() {
            Ok(c) => c,
            // --create-db connects to the server through another database.
            Err(e) if e.is::<connect::MissingDatabase>() => self
                .target
                .with_dbname("postgres")
                .connect()
                .or_else(|_| self.target.with_dbname("template1").connect())?,
            Err(e) => return Err(e),
        };
        let missing: Vec<String> = client
            .query(
                "SELECT r FROM pg_catalog.unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) ORDER BY 1",
                &[&database.roles],
            )?
            .iter()
            .map(|r| r.value(0))
            .collect::<Result<_>>()?;
        if !missing.is_empty() {
            bail!(
                "{} was taken with --with-privileges and names roles {} lacks: {}; create them first (pg_dumpall --roles-only on the source gives the statements)",
                database.name,
                self.target.redacted,
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// Rows alone go back: asked for, or all a set taken with --data-only
    /// holds (it has no schema to build).
    fn rows_only(&self, database: &DatabaseManifest) -> bool {
        self.options.data_only || (!self.options.schema_only && !database.has_schema_script())
    }

    /// Names the manifest's tables a restore takes: every one, or those
    /// `--table` chose (an error when it chose none).
    fn chosen_tables<'a>(&self, database: &'a DatabaseManifest) -> Result<Vec<&'a TableStats>> {
        let chosen: Vec<&TableStats> = database.tables.iter().filter(|t| self.wanted_table(&t.name)).collect();
        if chosen.is_empty() && !self.options.restore_tables.is_empty() {
            let names: Vec<&str> = database.tables.iter().map(|t| t.name.as_str()).take(20).collect();
            crate::usage_bail!(
                "no table of {} matches --table {}; the set holds: {}",
                database.name,
                self.options.restore_tables.join(", "),
                names.join(", ")
            );
        }
        Ok(chosen)
    }

    /// Chosen tables restored into a database built from the set need the
    /// tables their foreign keys point at, or the keys fail to validate.
    fn check_references(&self, database: &DatabaseManifest) -> Result<()> {
        let chosen = self.chosen_tables(database)?;
        let names: std::collections::HashSet<&str> = chosen.iter().map(|t| t.name.as_str()).collect();
        let missing: Vec<String> = chosen
            .iter()
            .flat_map(|t| {
                t.references
                    .iter()
                    .filter(|r| !names.contains(r.as_str()))
                    .map(move |r| format!("{} references {r}", t.name))
            })
            .collect();
        if !missing.is_empty() && !self.options.schema_only {
            crate::usage_bail!(
                "{}, which --table did not choose: add them with --table, or restore with --data-only into a database that holds them",
                missing.join("; ")
            );
        }
        Ok(())
    }

    /// Rows alone need the tables to be there already.
    fn check_tables_exist(&self, client: &mut Client, database: &DatabaseManifest) -> Result<()> {
        let mut missing = Vec::new();
        for t in self.chosen_tables(database)? {
            let sql_name = t.sql_name.as_deref().unwrap_or(&t.name);
            let found: Option<String> = client
                .query_one("SELECT pg_catalog.to_regclass($1)::text", &[&sql_name])?
                .value(0)?;
            if found.is_none() {
                missing.push(t.name.clone());
            }
        }
        if !missing.is_empty() {
            crate::usage_bail!(
                "{} has no table {}: restore the schema first (a restore without --data-only into an empty database, or --schema-only)",
                self.target.redacted,
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// The chosen tables' names as SQL, parsed from the manifest and
    /// quoted again by lifeboat: a manifest cannot smuggle SQL in a name.
    fn chosen_sql_names(&self, database: &DatabaseManifest) -> Result<Vec<String>> {
        self.chosen_tables(database)?
            .into_iter()
            .map(|t| guard::requote(t.sql_name.as_deref().unwrap_or(&t.name)))
            .collect()
    }

    /// Empties the chosen tables for their rows from the set.
    fn empty_chosen_tables(&self, client: &mut Client, database: &DatabaseManifest) -> Result<()> {
        let names = self.chosen_sql_names(database)?;
        client
            .batch_execute(&format!("TRUNCATE ONLY {}", names.join(", ")))
            .map_err(|e| {
                let detail = e.as_db_error().and_then(|d| d.detail()).map(|d| format!(" ({d})")).unwrap_or_default();
                anyhow::anyhow!(
                    "emptying the chosen tables: {}{detail}; add the tables that reference them with --table, or use --data-only to add rows without emptying",
                    connect::server_message(&e)
                )
            })?;
        Ok(())
    }

    /// Turns the chosen tables' own triggers off while their rows are put
    /// back: the rows already hold what those triggers did when they were
    /// written. Returns the statements that turn them on again.
    fn quiet_triggers(&self, client: &mut Client, database: &DatabaseManifest) -> Result<Vec<String>> {
        let mut enable = Vec::new();
        for name in self.chosen_sql_names(database)? {
            let triggers = client.query(
                "SELECT pg_catalog.quote_ident(tgname), tgenabled::text FROM pg_catalog.pg_trigger \
                 WHERE tgrelid = $1::text::pg_catalog.regclass AND NOT tgisinternal AND tgenabled <> 'D'",
                &[&name],
            )?;
            for t in triggers {
                let (trigger, mode): (String, String) = (t.try_get(0)?, t.try_get(1)?);
                client
                    .batch_execute(&format!("ALTER TABLE {name} DISABLE TRIGGER {trigger}"))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "turning off trigger {trigger} on {name} while its rows are put back: {}",
                            connect::server_message(&e)
                        )
                    })?;
                let how = match mode.as_str() {
                    "A" => "ENABLE ALWAYS",
                    "R" => "ENABLE REPLICA",
                    _ => "ENABLE",
                };
                enable.push(format!("ALTER TABLE {name} {how} TRIGGER {trigger};"));
            }
        }
        Ok(enable)
    }

    /// Sets the sequences the restored tables own (all of them without
    /// --table) to where they stood in the snapshot.
    fn put_back_sequences(&self, client: &mut Client, database: &DatabaseManifest) -> Result<()> {
        let whole = self.options.restore_tables.is_empty();
        for position in &database.sequences {
            if whole || position.tables.iter().any(|t| self.wanted_table(t)) {
                client.batch_execute(&setval(position)).map_err(|e| {
                    anyhow::anyhow!("setting sequence {}: {}", position.name, connect::server_message(&e))
                })?;
            }
        }
        Ok(())
    }

    fn wanted_data<'a>(&'a self, database: &'a DatabaseManifest) -> impl Iterator<Item = &'a Member> {
        members_of(database, "data").filter(|m| m.table.as_deref().is_some_and(|t| self.wanted_table(t)))
    }

    /// Holds the rows the server took for each table against the manifest.
    fn check_counts(&self, database: &DatabaseManifest, loaded: &Loaded) -> Result<Vec<String>> {
        if self.options.schema_only {
            return Ok(vec!["schema restored; no data was asked for".into()]);
        }
        let chosen = self.chosen_tables(database)?;
        if chosen.is_empty() {
            return Ok(vec!["schema restored; the set holds no rows".into()]);
        }
        let problems: Vec<String> = chosen
            .iter()
            .filter_map(|t| {
                let rows = loaded.get(&t.name).copied().unwrap_or(0);
                (rows != t.rows).then(|| format!("{} took {rows} rows, the manifest says {}", t.name, t.rows))
            })
            .collect();
        if !problems.is_empty() {
            bail!("the restored tables do not match the manifest: {}", problems.join("; "));
        }
        Ok(vec![format!(
            "{} tables took the row counts the manifest records",
            chosen.len()
        )])
    }

    /// Restores into a new database beside the target, then swaps it in:
    /// a failure drops the new database and the target is untouched.
    fn restore_via_new_database(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<Vec<String>> {
        if self.rows_only(database) {
            crate::usage_bail!(
                "--create-db builds a new database, which rows alone (--data-only, or a set taken with --data-only) cannot fill: restore a whole set, or leave out --create-db"
            );
        }
        self.check_references(database)?;
        match self.restore_beside(set, database, before_change, reporter, None)? {
            Beside::Done(checks) => Ok(checks),
            Beside::Refused(why) => bail!("{why}; the user needs CREATEDB for --create-db"),
        }
    }

    /// Builds the set in a new database beside the target over `--jobs`
    /// connections, checks it, and swaps it in. `like` makes the new
    /// database as the existing target is (see [`PostgresEngine::beside_plan`]);
    /// without it, a plain UTF-8 database from template0 (--create-db).
    /// A new database that cannot be made, or does not start as the target
    /// would after --clean, is `Refused` with nothing changed anywhere.
    fn restore_beside(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
        like: Option<&BesidePlan>,
    ) -> Result<Beside> {
        let maintenance = self.target.with_dbname("postgres");
        let mut admin = maintenance
            .connect()
            .or_else(|_| self.target.with_dbname("template1").connect())?;
        let temp = leftovers::name(
            &self.target.dbname,
            leftovers::Kind::Restore,
            &std::process::id().to_string(),
        );
        let options = like.map(|l| l.create_options.as_str()).unwrap_or("ENCODING 'UTF8'");
        if let Err(e) = admin.batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 {options}",
            swap::quoted(&temp)
        )) {
            return Ok(Beside::Refused(format!(
                "creating a database for the restore: {}",
                connect::server_message(&e)
            )));
        }
        // Marked at once: only a marked database is ever dropped as a
        // leftover by a later run.
        if let Err(e) = leftovers::mark_created(&mut admin, &temp, &self.target.dbname, leftovers::Kind::Restore) {
            swap::drop_database(&mut admin, &temp);
            return Err(e);
        }
        let result = (|| -> Result<std::result::Result<Vec<String>, String>> {
            let target = self.target.with_dbname(&temp);
            let mut client = target.connect()?;
            if let Some(like) = like {
                // What --clean leaves alone (schema public's owner and
                // privileges) must start out as the target has it.
                let public = public_schema(&mut client)?;
                if public != like.public {
                    return Ok(Err(format!(
                        "schema public of {} differs from a new database's ({} against {}), and --clean keeps it",
                        self.target.dbname,
                        like.public.as_deref().unwrap_or("missing"),
                        public.as_deref().unwrap_or("missing")
                    )));
                }
            }
            let loaded = self.load_parallel(&mut client, &target, set, database, reporter)?;
            let checks = self.check_counts(database, &loaded)?;
            // The whole file against its sidecar, hashed beside the load.
            set.confirm_file()?;
            drop(client);
            Ok(Ok(checks))
        })();
        let checks = match result {
            Ok(Ok(c)) => c,
            Ok(Err(why)) => {
                swap::drop_database(&mut admin, &temp);
                return Ok(Beside::Refused(why));
            }
            Err(e) => {
                let left = if swap::drop_database(&mut admin, &temp) {
                    "the partial restore was removed".to_string()
                } else {
                    format!("the partial restore is still in database {temp}: drop it with DROP DATABASE")
                };
                return Err(e.context(format!("{} was not changed; {left}", self.target.dbname)));
            }
        };
        if let Err(e) = before_change() {
            swap::drop_database(&mut admin, &temp);
            return Err(e);
        }
        swap::swap_in(
            &mut admin,
            &self.target,
            &temp,
            self.options.terminate_connections,
            reporter,
        )?;
        Ok(Beside::Done(checks))
    }

    /// Whether a restore of the whole set over the existing target (as
    /// `--clean` asks) can build it beside the target over `--jobs`
    /// connections and swap it in, with the same result as dropping what
    /// the target holds in one transaction: the role may create databases
    /// (and give them the target's owner), nobody else is connected, and
    /// the target carries nothing of its own that lives outside what
    /// --clean drops (settings, privileges, a comment, subscriptions,
    /// replication slots, a tablespace, a non-libc locale). `Err` says why
    /// not, for the single-transaction path to say.
    fn beside_plan(&self, client: &mut Client) -> Result<std::result::Result<BesidePlan, String>> {
        let db = self.target.dbname.as_str();
        let version: i32 = client
            .query_one("SELECT pg_catalog.current_setting('server_version_num')::int", &[])?
            .try_get(0)?;
        let provider = if version >= 150000 {
            "d.datlocprovider::text"
        } else {
            "'c'"
        };
        let row = client.query_one(
            format!(
                "SELECT pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate::text, d.datctype::text, \
                 pg_catalog.pg_get_userbyid(d.datdba)::text, {provider}, \
                 (SELECT r.rolcreatedb OR r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), \
                 pg_catalog.pg_has_role(d.datdba, 'MEMBER'), \
                 d.datacl IS NULL, d.datconnlimit = -1 AND d.datallowconn AND NOT d.datistemplate, \
                 d.dattablespace = (SELECT t.oid FROM pg_catalog.pg_tablespace t WHERE t.spcname = 'pg_default'), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting x WHERE x.setdatabase = d.oid), \
                 pg_catalog.shobj_description(d.oid, 'pg_database') IS NOT NULL, \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl a WHERE a.defaclnamespace = 0), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_subscription x WHERE x.subdbid = d.oid), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots x WHERE x.database = d.datname) \
                 FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()"
            )
            .as_str(),
            &[],
        )?;
        let encoding: String = row.try_get(0)?;
        let collate: String = row.try_get(1)?;
        let ctype: String = row.try_get(2)?;
        let owner: String = row.try_get(3)?;
        let provider: String = row.try_get(4)?;
        let may_create: Option<bool> = row.try_get(5)?;
        let checks: [(bool, String); 10] = [
            (
                may_create == Some(true),
                "the role may not create databases (CREATEDB)".into(),
            ),
            (
                row.try_get(6)?,
                format!("the role cannot make a database owned by {owner}, as {db} is"),
            ),
            (provider == "c", format!("{db} uses a locale provider other than libc")),
            (row.try_get(7)?, format!("{db} has privileges granted on it")),
            (
                row.try_get(8)?,
                format!("{db} has a connection limit, or is a template or closed to connections"),
            ),
            (row.try_get(9)?, format!("{db} is in a tablespace of its own")),
            (
                !row.try_get::<_, bool>(10)?,
                format!("{db} has settings of its own (ALTER DATABASE ... SET)"),
            ),
            (!row.try_get::<_, bool>(11)?, format!("{db} has a comment")),
            (
                !row.try_get::<_, bool>(12)?,
                format!("{db} has default privileges for all schemas"),
            ),
            (
                !row.try_get::<_, bool>(13)? && !row.try_get::<_, bool>(14)?,
                format!("{db} has subscriptions or replication slots"),
            ),
        ];
        if let Some((_, why)) = checks.iter().find(|(ok, _)| !ok) {
            return Ok(Err(why.clone()));
        }
        if !self.options.terminate_connections {
            let others = swap::lasting_sessions(client, db)?;
            if !others.is_empty() {
                return Ok(Err(format!(
                    "{} other session(s) are connected to {db} (--terminate-connections ends them, and the restore runs in parallel): {}",
                    others.len(),
                    others.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>().join("; ")
                )));
            }
        }
        let mut create_options = format!(
            "ENCODING {} LC_COLLATE {} LC_CTYPE {} OWNER {}",
            catalog::quote_literal(&encoding),
            catalog::quote_literal(&collate),
            catalog::quote_literal(&ctype),
            swap::quoted(&owner)
        );
        if version >= 150000 {
            create_options.push_str(" LOCALE_PROVIDER libc");
        }
        Ok(Ok(BesidePlan {
            create_options,
            public: public_schema(client)?,
        }))
    }

    /// Pre-data, then over several connections: rows, largest table first;
    /// each index once its table's rows are in; each foreign key once both
    /// its tables and their indexes are; the rest of post-data after all of
    /// those (as pg_restore orders its work); event triggers and
    /// materialized view refreshes last of all.
    fn load_parallel(
        &self,
        client: &mut Client,
        target: &Target,
        set: &SetSource,
        database: &DatabaseManifest,
        reporter: &Reporter,
    ) -> Result<Loaded> {
        let how = HowToRun {
            schema_only: self.options.schema_only,
            statement_by_statement: self.extension_admin.is_some(),
            admin: self.extension_admin.as_deref(),
            ..HowToRun::of(client, database, reporter)?
        };
        if self.jobs() <= 1 {
            return self.load(client, set, database, Plan::Everything, how, false, reporter);
        }
        let started = std::time::Instant::now();
        let schema = Schema::load(set, database)?;
        run_section(client, &schema, "pre-data", how)?;
        self.restore_large_objects(client, set, database, how, reporter)?;
        let schema_done = started.elapsed();
        let data: Vec<&Member> = if self.options.schema_only {
            Vec::new()
        } else {
            self.wanted_data(database).collect()
        };
        let task = reporter.task(
            &format!("loading {}", database.name),
            Some(data.iter().map(|m| m.raw_size).sum()),
        );
        let mut plan = Dag::default();
        let display: HashMap<&str, &str> = database
            .tables
            .iter()
            .filter_map(|t| Some((t.sql_name.as_deref()?, t.name.as_str())))
            .collect();
        // The tables an object needs, or None when one of them has no rows
        // of its own here (a partitioned table, or one left out).
        let needs = |object: &Object| -> Option<Vec<&str>> {
            object.needs.iter().map(|t| display.get(t.as_str()).copied()).collect()
        };
        let bytes_of = |tables: &[&str]| -> u64 {
            tables
                .iter()
                .filter_map(|t| database.table(t))
                .map(|t| t.raw_bytes)
                .sum()
        };
        // A table's rows go in frozen, over one connection in one
        // transaction, which spares the server setting hint bits on every
        // row (and writing each page again) when the indexes and keys first
        // read them. Only a table whose rows are more than a connection's
        // share of the whole restore (rows, index builds and key checks)
        // is split over several connections instead, as its chunks.
        let statements_cost: u64 = ["indexes", "foreign-keys"]
            .iter()
            .flat_map(|section| &schema.section(section).objects)
            .filter_map(&needs)
            .map(|tables| Dag::statement_cost(bytes_of(&tables)))
            .sum();
        let share = (data.iter().map(|m| m.raw_size).sum::<u64>() + statements_cost) / self.jobs() as u64;
        let tables = tables_of(database, &data);
        let freezable = ordinary_tables(client, &tables)?;
        let mut rows_of: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut all_rows = Vec::new();
        for members in by_table(&data) {
            let table = members[0].table.as_deref().unwrap_or_default();
            let pieces = if members.iter().map(|m| m.raw_size).sum::<u64>() > share || !freezable.contains(table) {
                members.into_iter().map(|m| Work::Rows(vec![m], false)).collect()
            } else {
                vec![Work::Rows(members, true)]
            };
            for work in pieces {
                let node = plan.add(work, &[]);
                rows_of.entry(table).or_default().push(node);
                all_rows.push(node);
            }
        }
        let mut built: HashMap<&str, Vec<usize>> = rows_of.clone();
        let mut before_post_data = all_rows.clone();
        for object in &schema.section("indexes").objects {
            let node = match needs(object) {
                Some(tables) => {
                    let node = plan.add(Work::Object(object), &nodes_of(&rows_of, &tables));
                    plan.weigh(node, bytes_of(&tables));
                    for t in tables {
                        built.entry(t).or_default().push(node);
                    }
                    node
                }
                None => plan.add(Work::Object(object), &all_rows),
            };
            before_post_data.push(node);
        }
        let mut late_keys = Vec::new();
        for object in &schema.section("foreign-keys").objects {
            match needs(object) {
                Some(tables) => {
                    // Post-data waits for these keys: the two would
                    // otherwise lock the same tables in opposite orders.
                    let node = plan.add(Work::Object(object), &nodes_of(&built, &tables));
                    plan.weigh(node, bytes_of(&tables));
                    plan.lock(node, &object.needs);
                    before_post_data.push(node);
                }
                None => late_keys.push(object),
            }
        }
        let post = plan.add(Work::Section("post-data"), &before_post_data);
        for object in late_keys {
            let node = plan.add(Work::Object(object), &[post]);
            plan.lock(node, &object.needs);
        }
        // Each table's rows run in no transaction but their own, so a COPY
        // that fails on a value sent in binary is undone and runs again as
        // text.
        let binary = binary::Plans::read(client, tables.iter().copied(), false)?;
        let loaded = Mutex::new(Loaded::new());
        plan.run(self.jobs(), target, |client, work| match work {
            Work::Rows(members, freeze) => {
                let rows = load_rows(client, set, database, members, &binary, *freeze, &|m| {
                    task.inc(m.raw_size)
                })?;
                *loaded
                    .lock()
                    .expect("counts")
                    .entry(members[0].table.clone().unwrap_or_default())
                    .or_default() += rows;
                Ok(())
            }
            Work::Object(object) => object
                .statements
                .iter()
                .try_for_each(|s| run_statement(client, &s.text)),
            Work::Section(section) => run_section(client, &schema, section, how),
        })?;
        // Event triggers once no other statement of the restore is left
        // to fire them, then the refreshes pg_dump runs after them.
        run_section(client, &schema, "last", how)?;
        task.finish();
        reporter.log(&format!(
            "{}: schema {:.2}s, rows, indexes, post-data and foreign keys {:.2}s; {}",
            database.name,
            schema_done.as_secs_f64(),
            (started.elapsed() - schema_done).as_secs_f64(),
            binary.summary(),
        ));
        Ok(loaded.into_inner().expect("counts"))
    }
}

/// Of `tables`, by their manifest names, those that are plain tables in
/// the target, which COPY may fill frozen: not a partitioned or foreign
/// table, nor one an extension made (its configuration tables hold the
/// extension's own rows, beside which the set's go).
fn ordinary_tables(client: &mut Client, tables: &[&TableStats]) -> Result<HashSet<String>> {
    let sql_names: Vec<&str> = tables
        .iter()
        .map(|t| t.sql_name.as_deref().unwrap_or(&t.name))
        .collect();
    let plain: HashSet<String> = client
        .query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE pg_catalog.format('%I.%I', n.nspname, c.relname) = ANY($1) AND c.relkind = 'r' \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
             AND d.objid = c.oid AND d.deptype = 'e')",
            &[&sql_names],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(tables
        .iter()
        .zip(&sql_names)
        .filter(|(_, sql_name)| plain.contains(**sql_name))
        .map(|(t, _)| t.name.clone())
        .collect())
}

/// `data`'s members, a list for each table (in the order of its first
/// member): a table emptied before its rows go in must get them all then.
fn by_table<'a>(data: &[&'a Member]) -> Vec<Vec<&'a Member>> {
    let mut tables: Vec<Vec<&Member>> = Vec::new();
    let mut at: HashMap<Option<&str>, usize> = HashMap::new();
    for &m in data {
        let i = *at.entry(m.table.as_deref()).or_insert_with(|| {
            tables.push(Vec::new());
            tables.len() - 1
        });
        tables[i].push(m);
    }
    tables
}

/// The tables whose rows `data` holds, each once.
fn tables_of<'a>(database: &'a DatabaseManifest, data: &[&Member]) -> Vec<&'a TableStats> {
    let mut tables: Vec<&TableStats> = data
        .iter()
        .filter_map(|m| database.table(m.table.as_deref()?))
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables.dedup_by(|a, b| a.name == b.name);
    tables
}

/// Runs one checked statement of a set through the extended protocol, as
/// an unnamed statement parsed, bound and run in one round trip.
fn run_statement(client: &mut Client, statement: &str) -> Result<()> {
    crate::cancel::check()?;
    client
        .execute_typed(statement, &[])
        .map(|_| ())
        .map_err(|e| statement_error(statement, &e))
}

/// A statement's failure, with the statement and the server's words.
fn statement_error(statement: &str, e: &postgres::Error) -> anyhow::Error {
    let detail = e
        .as_db_error()
        .and_then(|d| d.detail())
        .map(|x| format!(" ({x})"))
        .unwrap_or_default();
    anyhow::anyhow!(
        "{}: {}{detail}",
        guard::shown(statement.lines().last().unwrap_or(statement)),
        connect::server_message(e)
    )
}

/// The pieces of work done for any of `tables`.
fn nodes_of(by_table: &HashMap<&str, Vec<usize>>, tables: &[&str]) -> Vec<usize> {
    tables
        .iter()
        .flat_map(|t| by_table.get(t).into_iter().flatten())
        .copied()
        .collect()
}

/// One piece of a parallel restore.
enum Work<'a> {
    /// Members of one table; all of its members where they go in frozen.
    Rows(Vec<&'a Member>, bool),
    /// An object's statements, in order: the first creates it.
    Object(&'a Object),
    /// A section of the schema, run in order over one connection.
    Section(&'static str),
}

/// Pieces of work and what each waits for, run over several connections.
#[derive(Default)]
struct Dag<'a> {
    work: Vec<Work<'a>>,
    /// How many unfinished pieces each piece waits for.
    waiting: Vec<usize>,
    /// The pieces that wait for each piece.
    then: Vec<Vec<usize>>,
    /// Tables a piece locks against the other pieces that lock them:
    /// foreign keys lock both their tables, and two keys taking the same
    /// pair in opposite orders would deadlock.
    locks: Vec<Vec<String>>,
    /// About how much work each piece is, in bytes of rows it reads.
    cost: Vec<u64>,
}

/// Where a run of a `Dag` stands.
struct Progress {
    waiting: Vec<usize>,
    /// Ready rows, the most urgent last (taken first).
    ready_rows: Vec<usize>,
    ready: Vec<usize>,
    running: usize,
    finished: usize,
    failed: bool,
    locked: std::collections::HashSet<String>,
    /// [`Dag::urgency`] of each piece.
    urgency: Vec<u64>,
}

impl<'a> Dag<'a> {
    fn add(&mut self, work: Work<'a>, after: &[usize]) -> usize {
        let node = self.work.len();
        self.cost.push(match &work {
            Work::Rows(members, _) => members.iter().map(|m| m.raw_size).sum(),
            _ => 0,
        });
        self.work.push(work);
        self.waiting.push(after.len());
        self.then.push(Vec::new());
        self.locks.push(Vec::new());
        for &before in after {
            self.then[before].push(node);
        }
        node
    }

    /// Sets how much work a statement is (see [`Dag::statement_cost`]).
    fn weigh(&mut self, node: usize, table_bytes: u64) {
        self.cost[node] = Self::statement_cost(table_bytes);
    }

    /// An index build or key check reads its tables once, at about a
    /// third of the cost of loading them.
    fn statement_cost(table_bytes: u64) -> u64 {
        table_bytes / 3
    }

    /// How urgent each piece is: its own cost and the costliest chain of
    /// pieces that wait for it (its "bottom level"). Starting the most
    /// urgent ready piece first keeps a key check that waits on a small
    /// table from becoming the tail. Pieces only wait for earlier ones, so
    /// one pass from the end suffices.
    fn urgency(&self) -> Vec<u64> {
        let mut urgency = self.cost.clone();
        for node in (0..self.work.len()).rev() {
            let after = self.then[node].iter().map(|&n| urgency[n]).max().unwrap_or(0);
            urgency[node] += after;
        }
        urgency
    }

    /// Makes `node` lock `tables`.
    fn lock(&mut self, node: usize, tables: &[String]) {
        self.locks[node] = tables.to_vec();
    }

    fn run(
        self,
        jobs: usize,
        target: &Target,
        run: impl Fn(&mut Client, &Work<'a>) -> Result<()> + Sync,
    ) -> Result<()> {
        let mut progress = Progress {
            waiting: self.waiting.clone(),
            ready_rows: Vec::new(),
            ready: Vec::new(),
            running: 0,
            finished: 0,
            failed: false,
            locked: std::collections::HashSet::new(),
            urgency: self.urgency(),
        };
        for node in 0..self.work.len() {
            if progress.waiting[node] == 0 {
                self.make_ready(&mut progress, node);
            }
        }
        // Parallel index builds spread a sort over more processes, which
        // only pays where cores are idle. A server on this machine with
        // no more cores than there are loading connections has none: its
        // workers would take their time from the other connections' rows
        // and builds, and cost more CPU in all (about a twentieth of the
        // server's in `scripts/bench.sh` on 2 cores).
        let cores_all_busy =
            target.is_on_this_machine() && std::thread::available_parallelism().is_ok_and(|cores| cores.get() <= jobs);
        let state = (Mutex::new(progress), std::sync::Condvar::new());
        let errors = Mutex::new(Vec::new());
        let fail = |e: anyhow::Error| {
            errors.lock().expect("errors").push(e);
            state.0.lock().expect("progress").failed = true;
            state.1.notify_all();
        };
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(self.work.len()).max(1) {
                scope.spawn(|| {
                    let mut client = match target.connect() {
                        Ok(c) => c,
                        Err(e) => return fail(e),
                    };
                    // Each COPY and index commits on its own here, in a new
                    // database that is swapped in by a rename, which commits
                    // synchronously and so flushes the WAL of every one of
                    // them first: none needs to wait for its own flush.
                    if let Err(e) = client.batch_execute("SET synchronous_commit = off") {
                        return fail(e.into());
                    }
                    raise_load_memory(&mut client);
                    if cores_all_busy {
                        // Best effort, as for the memory settings.
                        let _ = client.batch_execute("SET max_parallel_maintenance_workers = 0");
                    }
                    while let Some(node) = self.next(&state) {
                        let result = run(&mut client, &self.work[node]);
                        let mut progress = state.0.lock().expect("progress");
                        progress.running -= 1;
                        for table in &self.locks[node] {
                            progress.locked.remove(table);
                        }
                        match result {
                            Ok(()) => {
                                progress.finished += 1;
                                for &after in &self.then[node] {
                                    progress.waiting[after] -= 1;
                                    if progress.waiting[after] == 0 {
                                        self.make_ready(&mut progress, after);
                                    }
                                }
                            }
                            Err(e) => {
                                progress.failed = true;
                                errors.lock().expect("errors").push(e);
                            }
                        }
                        state.1.notify_all();
                    }
                });
            }
        });
        if let Some(e) = errors.into_inner().expect("errors").into_iter().next() {
            return Err(e);
        }
        let progress = state.0.into_inner().expect("progress");
        anyhow::ensure!(
            progress.finished == self.work.len(),
            "the restore stopped with {} of {} steps undone: a step waits for one that never runs (a bug; please report it)",
            self.work.len() - progress.finished,
            self.work.len()
        );
        Ok(())
    }

    fn make_ready(&self, progress: &mut Progress, node: usize) {
        match &self.work[node] {
            Work::Rows(..) => {
                let key = |n: usize| (progress.urgency[n], self.cost[n]);
                let at = progress.ready_rows.partition_point(|&r| key(r) <= key(node));
                progress.ready_rows.insert(at, node);
            }
            _ => progress.ready.push(node),
        }
    }

    /// The next piece to run, waiting while others run; None when all is
    /// done or something failed.
    fn next(&self, state: &(Mutex<Progress>, std::sync::Condvar)) -> Option<usize> {
        let mut progress = state.0.lock().expect("progress");
        loop {
            if progress.failed {
                return None;
            }
            // Statements (index builds, keys) before rows: each is one
            // indivisible piece that only grows the tail if left to the
            // end, while rows come in chunks that fill the last gaps.
            let free = progress
                .ready
                .iter()
                .enumerate()
                .filter(|&(_, &n)| self.locks[n].iter().all(|t| !progress.locked.contains(t)))
                .max_by_key(|&(at, &n)| (progress.urgency[n], at))
                .map(|(at, _)| at);
            let node = match free {
                Some(free) => Some(progress.ready.remove(free)),
                None => progress.ready_rows.pop(),
            };
            if let Some(node) = node {
                for table in &self.locks[node] {
                    progress.locked.insert(table.clone());
                }
                progress.running += 1;
                return Some(node);
            }
            if progress.running == 0 {
                return None;
            }
            progress = state.1.wait(progress).expect("progress");
        }
    }
}

/// Index builds sort in `maintenance_work_mem` (64 MB by default) and
/// spill to disk past it, and a foreign key is checked by one join that
/// spills past `work_mem` (4 MB): each loading connection runs one of
/// them at a time, so it takes [`LOAD_MEMORY_MB`] for its session where
/// the server's setting is lower (any role may). Only speed depends on
/// it, so a server that refuses keeps its own.
fn raise_load_memory(client: &mut Client) {
    for (setting, mb) in LOAD_MEMORY_MB {
        let current = client
            .query_one(
                "SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting($1)) / 1048576",
                &[&setting],
            )
            .and_then(|r| r.try_get::<_, i64>(0));
        if matches!(current, Ok(now) if now < mb) {
            let _ = client.batch_execute(&format!("SET {setting} = '{mb}MB'"));
        }
    }
}

/// What each loading connection may sort an index or join keys in.
const LOAD_MEMORY_MB: [(&str, i64); 2] = [("maintenance_work_mem", 256), ("work_mem", 64)];

/// Each table's place in an order where the tables a foreign key points at
/// come before the table that holds it; tables in a cycle keep set order
/// after the rest.
fn parents_first<'a>(tables: &[&'a TableStats]) -> std::collections::HashMap<&'a str, usize> {
    let chosen: std::collections::HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut rank = std::collections::HashMap::new();
    while rank.len() < tables.len() {
        let ready: Vec<&str> = tables
            .iter()
            .filter(|t| !rank.contains_key(t.name.as_str()))
            .filter(|t| {
                t.references
                    .iter()
                    .all(|r| !chosen.contains(r.as_str()) || rank.contains_key(r.as_str()))
            })
            .map(|t| t.name.as_str())
            .collect();
        if ready.is_empty() {
            for t in tables {
                let next = rank.len();
                rank.entry(t.name.as_str()).or_insert(next);
            }
            break;
        }
        for name in ready {
            let next = rank.len();
            rank.insert(name, next);
        }
    }
    rank
}

/// How a restore beside an existing target makes its new database.
struct BesidePlan {
    /// The CREATE DATABASE options after TEMPLATE template0: the target's
    /// encoding, locale and owner.
    create_options: String,
    /// Schema public's owner and privileges in the target.
    public: Option<String>,
}

/// What became of a restore beside the target.
enum Beside {
    Done(Vec<String>),
    /// Nothing was changed, for this reason: the caller may restore another way.
    Refused(String),
}

/// Schema public's owner and privileges, as text; None without one.
fn public_schema(client: &mut Client) -> Result<Option<String>> {
    Ok(client
        .query_opt(
            "SELECT pg_catalog.pg_get_userbyid(nspowner)::text || ' ' || coalesce(nspacl::text, 'default')              FROM pg_catalog.pg_namespace WHERE nspname = 'public'",
            &[],
        )?
        .map(|r| r.get(0)))
}

/// What a restore into an existing database does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Builds the whole schema (dropping what is there) and loads rows.
    Everything,
    /// Adds rows to tables that exist (--data-only).
    AddRows,
    /// Empties the chosen tables of a database that has them and loads
    /// their rows (--table into a database that is not empty).
    ReplaceRows,
}

/// Rows the server took, by table.
type Loaded = std::collections::HashMap<String, u64>;

/// Not part of an extension (whose objects `CREATE EXTENSION` makes), nor
/// of another object (a range type's constructors and casts, an identity
/// column's sequence), which goes with it.
fn own_object(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '{catalog}'::pg_catalog.regclass AND e.objid = {oid} \
         AND (e.deptype = 'e' OR (e.deptype = 'i' AND e.refobjid <> e.objid)))"
    )
}

/// Drops every user schema, extension and database-wide object, and every
/// user object in `public`, inside the caller's transaction: what a set
/// may create, so that it can be created again.
fn clean(client: &mut Client) -> Result<()> {
    let public = "'public'::pg_catalog.regnamespace";
    // (statement pattern, catalog, catalog alias and condition) per kind.
    let in_public: [(&str, &str, &str); 11] = [
        (
            "pg_catalog.format('DROP ROUTINE IF EXISTS %s CASCADE', x.oid::pg_catalog.regprocedure)",
            "pg_proc",
            "x.pronamespace",
        ),
        (
            "pg_catalog.format('DROP COLLATION IF EXISTS public.%I CASCADE', x.collname)",
            "pg_collation",
            "x.collnamespace",
        ),
        (
            "pg_catalog.format('DROP OPERATOR IF EXISTS %s CASCADE', x.oid::pg_catalog.regoperator)",
            "pg_operator",
            "x.oprnamespace",
        ),
        (
            "pg_catalog.format('DROP OPERATOR FAMILY IF EXISTS public.%I USING %I CASCADE', x.opfname, (SELECT amname FROM pg_catalog.pg_am WHERE oid = x.opfmethod))",
            "pg_opfamily",
            "x.opfnamespace",
        ),
        (
            "pg_catalog.format('DROP OPERATOR CLASS IF EXISTS public.%I USING %I CASCADE', x.opcname, (SELECT amname FROM pg_catalog.pg_am WHERE oid = x.opcmethod))",
            "pg_opclass",
            "x.opcnamespace",
        ),
        (
            "pg_catalog.format('DROP TEXT SEARCH CONFIGURATION IF EXISTS public.%I CASCADE', x.cfgname)",
            "pg_ts_config",
            "x.cfgnamespace",
        ),
        (
            "pg_catalog.format('DROP TEXT SEARCH DICTIONARY IF EXISTS public.%I CASCADE', x.dictname)",
            "pg_ts_dict",
            "x.dictnamespace",
        ),
        (
            "pg_catalog.format('DROP TEXT SEARCH PARSER IF EXISTS public.%I CASCADE', x.prsname)",
            "pg_ts_parser",
            "x.prsnamespace",
        ),
        (
            "pg_catalog.format('DROP TEXT SEARCH TEMPLATE IF EXISTS public.%I CASCADE', x.tmplname)",
            "pg_ts_template",
            "x.tmplnamespace",
        ),
        (
            "pg_catalog.format('DROP CONVERSION IF EXISTS public.%I CASCADE', x.conname)",
            "pg_conversion",
            "x.connamespace",
        ),
        (
            "pg_catalog.format('DROP STATISTICS IF EXISTS public.%I', x.stxname)",
            "pg_statistic_ext",
            "x.stxnamespace",
        ),
    ];
    let mut queries = vec![
        format!(
            "SELECT pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', x.nspname) FROM pg_catalog.pg_namespace x \
             WHERE x.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND x.nspname NOT LIKE 'pg\\_%' AND {}",
            own_object("pg_namespace", "x.oid")
        ),
        "SELECT pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', extname) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'".into(),
        "SELECT pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I CASCADE', evtname) FROM pg_catalog.pg_event_trigger".into(),
        "SELECT pg_catalog.format('DROP PUBLICATION IF EXISTS %I CASCADE', pubname) FROM pg_catalog.pg_publication".into(),
        format!(
            "SELECT pg_catalog.format('DROP SERVER IF EXISTS %I CASCADE', x.srvname) FROM pg_catalog.pg_foreign_server x WHERE {}",
            own_object("pg_foreign_server", "x.oid")
        ),
        format!(
            "SELECT pg_catalog.format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', x.fdwname) FROM pg_catalog.pg_foreign_data_wrapper x WHERE {}",
            own_object("pg_foreign_data_wrapper", "x.oid")
        ),
        format!(
            "SELECT pg_catalog.format('DROP CAST IF EXISTS (%s AS %s) CASCADE', x.castsource::pg_catalog.regtype, x.casttarget::pg_catalog.regtype) \
             FROM pg_catalog.pg_cast x WHERE x.oid >= 16384 AND {}",
            own_object("pg_cast", "x.oid")
        ),
        format!(
            "SELECT pg_catalog.format('DROP ACCESS METHOD IF EXISTS %I CASCADE', x.amname) FROM pg_catalog.pg_am x WHERE x.oid >= 16384 AND {}",
            own_object("pg_am", "x.oid")
        ),
        format!(
            "SELECT pg_catalog.format('DROP %s IF EXISTS public.%I CASCADE', CASE x.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, x.relname) \
             FROM pg_catalog.pg_class x WHERE x.relnamespace = {public} AND x.relkind IN ('r','p','v','m','S','f') AND {}",
            own_object("pg_class", "x.oid")
        ),
        format!(
            "SELECT pg_catalog.format('DROP TYPE IF EXISTS public.%I CASCADE', x.typname) FROM pg_catalog.pg_type x WHERE x.typnamespace = {public} \
             AND (x.typtype IN ('e', 'c', 'r', 'd') OR (x.typtype = 'b' AND x.typcategory <> 'A')) \
             AND (x.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = x.typrelid) = 'c') AND {}",
            own_object("pg_type", "x.oid")
        ),
    ];
    for (statement, catalog, namespace) in in_public {
        queries.push(format!(
            "SELECT {statement} FROM pg_catalog.{catalog} x WHERE {namespace} = {public} AND {}",
            own_object(catalog, "x.oid")
        ));
    }
    queries.push(
        "SELECT pg_catalog.format('SELECT pg_catalog.lo_unlink(%s)', oid) FROM pg_catalog.pg_largeobject_metadata"
            .into(),
    );
    // A comment the set may carry on public starts from the default.
    queries.push(
        "SELECT 'COMMENT ON SCHEMA public IS ''standard public schema''' \
         WHERE pg_catalog.obj_description('public'::pg_catalog.regnamespace, 'pg_namespace') IS DISTINCT FROM 'standard public schema'"
            .into(),
    );
    let mut drops: Vec<String> = Vec::new();
    for query in &queries {
        for r in client
            .query(query.as_str(), &[])
            .context("listing what --clean drops")?
        {
            drops.push(r.value(0)?);
        }
    }
    for d in drops {
        client
            .batch_execute(&d)
            .with_context(|| format!("cleaning the target: {d}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parents_first;
    use crate::archive::manifest::TableStats;

    fn table(name: &str, references: &[&str]) -> TableStats {
        TableStats {
            columns: Vec::new(),
            name: name.into(),
            rows: 0,
            raw_bytes: 0,
            digest: String::new(),
            sql_name: None,
            references: references.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn parents_load_before_the_tables_that_reference_them() {
        let tables = [
            table("s.child", &["s.parent", "s.elsewhere"]),
            table("s.grandchild", &["s.child"]),
            table("s.parent", &[]),
            table("s.a", &["s.b"]),
            table("s.b", &["s.a"]),
        ];
        let chosen: Vec<&TableStats> = tables.iter().collect();
        let rank = parents_first(&chosen);
        assert!(rank["s.parent"] < rank["s.child"]);
        assert!(rank["s.child"] < rank["s.grandchild"]);
        // A cycle cannot be ordered: both still get a place, after the rest.
        assert!(rank["s.a"] > rank["s.grandchild"] && rank["s.b"] > rank["s.grandchild"]);
        assert_eq!(rank.len(), 5);
    }
}
