//! Extensions in a restore-level verification on a local scratch cluster.
//!
//! The set's SQL runs there as a role without superuser (issue 9), which
//! may create only trusted extensions: PostGIS, pgstattuple, file_fdw and
//! most others are not. So the cluster's admin connection creates the
//! extensions the set names, at the point of the restore where the set
//! creates them (their schema exists, what follows may use them), and
//! nothing else of the set ever runs on that connection:
//!
//! - only `CREATE EXTENSION IF NOT EXISTS name WITH SCHEMA schema`, as
//!   lifeboat writes it, rebuilt from the two names (no VERSION, no
//!   CASCADE), for an extension this machine has;
//! - `COMMENT ON EXTENSION` of such an extension, which needs its owner;
//! - and only while the scratch database holds no function, type, operator
//!   or relation the set made: an extension script runs as superuser with
//!   its schema on the search path, and must not find the set's code there.
//!
//! The restore role then gets what the set's later statements need of the
//! extension: rows into its configuration tables, and its foreign-data
//! wrappers for the servers the set defines.

use super::connect::{self, Target};
use super::guard::{self, Statement, Token};
use anyhow::{Context, Result, bail};
use postgres::Client;
use std::collections::HashSet;
use std::sync::Mutex;

/// The scratch cluster's admin connection and what it made.
pub struct ExtensionAdmin {
    target: Target,
    /// The role the set's SQL runs as.
    restore_role: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    client: Option<Client>,
    /// Extensions the admin created, by name.
    made: HashSet<String>,
}

/// `CREATE EXTENSION IF NOT EXISTS <name> WITH SCHEMA <schema>`, as
/// lifeboat writes it: the two names, or None for anything else.
fn create_extension(tokens: &[Token]) -> Option<(String, String)> {
    let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Token::Word { upper, .. }) if upper == w);
    let opening = ["CREATE", "EXTENSION", "IF", "NOT", "EXISTS"];
    if !opening.iter().enumerate().all(|(i, w)| word(i, w)) || !word(6, "WITH") || !word(7, "SCHEMA") {
        return None;
    }
    let name = guard::ident(tokens.get(5)?)?;
    let schema = guard::ident(tokens.get(8)?)?;
    (tokens.len() == 9).then_some((name, schema))
}

/// `COMMENT ON EXTENSION <name> IS '<text>'`: the name and the text.
fn comment_on_extension(tokens: &[Token]) -> Option<(String, String)> {
    let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Token::Word { upper, .. }) if upper == w);
    if !(word(0, "COMMENT") && word(1, "ON") && word(2, "EXTENSION") && word(4, "IS")) || tokens.len() != 6 {
        return None;
    }
    let name = guard::ident(tokens.get(3)?)?;
    match tokens.get(5)? {
        Token::Str(text) => Some((name, text.clone())),
        _ => None,
    }
}

/// Objects the set made that an extension script could reach: anything
/// owned by a role other than the admin, in the catalogs whose objects
/// are found by name (a cast or transform needs a type of its owner's).
const PLANTED: &str = "SELECT pg_catalog.format('%s %s', kind, name) FROM ( \
    SELECT 'function' AS kind, oid::pg_catalog.regprocedure::text AS name, proowner AS owner FROM pg_catalog.pg_proc \
    UNION ALL SELECT 'type', oid::pg_catalog.regtype::text, typowner FROM pg_catalog.pg_type \
    UNION ALL SELECT 'operator', oid::pg_catalog.regoperator::text, oprowner FROM pg_catalog.pg_operator \
    UNION ALL SELECT 'relation', oid::pg_catalog.regclass::text, relowner FROM pg_catalog.pg_class \
    UNION ALL SELECT 'collation', collname::text, collowner FROM pg_catalog.pg_collation \
    UNION ALL SELECT 'conversion', conname::text, conowner FROM pg_catalog.pg_conversion \
    UNION ALL SELECT 'operator family', opfname::text, opfowner FROM pg_catalog.pg_opfamily \
    UNION ALL SELECT 'operator class', opcname::text, opcowner FROM pg_catalog.pg_opclass \
    UNION ALL SELECT 'text search configuration', cfgname::text, cfgowner FROM pg_catalog.pg_ts_config \
    UNION ALL SELECT 'text search dictionary', dictname::text, dictowner FROM pg_catalog.pg_ts_dict \
    UNION ALL SELECT 'language', lanname::text, lanowner FROM pg_catalog.pg_language \
    ) o WHERE o.owner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) ORDER BY 1 LIMIT 5";

/// A statement for a message: its last line, without the set's comments.
fn shown(statement: &Statement) -> String {
    guard::shown(statement.text.lines().last().unwrap_or(&statement.text))
}

impl ExtensionAdmin {
    /// `target`: the scratch database, as the cluster's superuser.
    pub fn new(target: Target, restore_role: &str) -> ExtensionAdmin {
        ExtensionAdmin {
            target,
            restore_role: restore_role.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `statement` on the admin connection when it is one of the two
    /// the admin takes (see the module's notes); false leaves it to the
    /// restore role. Called with the restore role's work so far committed,
    /// so the extension's schema is there to be seen.
    pub fn run(&self, statement: &Statement) -> Result<bool> {
        let mut state = self.state.lock().expect("extension admin");
        if let Some((name, schema)) = create_extension(&statement.tokens) {
            let client = self.client(&mut state)?;
            let available: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1)",
                    &[&name],
                )?
                .get(0);
            if !available {
                // The restore role runs it, and the server says what is missing.
                return Ok(false);
            }
            let planted: Vec<String> = client
                .query(PLANTED, &[])
                .context("looking for objects of the set before creating an extension")?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !planted.is_empty() {
                bail!(
                    "the set makes {} before CREATE EXTENSION {}: the scratch cluster's superuser creates extensions \
                     only in a database that holds none of the set's code yet, which lifeboat's own sets never do; \
                     the set was altered, or verify it with --scratch server or a URL",
                    planted
                        .iter()
                        .map(|p| crate::github::workflow::neutralize(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::github::workflow::neutralize(&name)
                );
            }
            let create = format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                guard::quote_ident(&name),
                guard::quote_ident(&schema)
            );
            client
                .batch_execute(&create)
                .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
            self.hand_over(client, &name)?;
            state.made.insert(name);
            return Ok(true);
        }
        if let Some((name, text)) = comment_on_extension(&statement.tokens)
            && state.made.contains(&name)
        {
            let comment = format!(
                "COMMENT ON EXTENSION {} IS {}",
                guard::quote_ident(&name),
                super::catalog::quote_literal(&text)
            );
            self.client(&mut state)?
                .batch_execute(&comment)
                .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
            return Ok(true);
        }
        Ok(false)
    }

    fn client<'a>(&self, state: &'a mut State) -> Result<&'a mut Client> {
        if state.client.is_none() {
            let mut client = self
                .target
                .connect()
                .context("connecting to the scratch database as its cluster's admin")?;
            // The admin runs lifeboat's statements only, with nothing of
            // the set on its path.
            client.batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")?;
            state.client = Some(client);
        }
        Ok(state.client.as_mut().expect("connected"))
    }

    /// What the set's later statements need of the extension `name` made
    /// by the admin: rows into its configuration tables (the set's own
    /// rows, read back to be checked), and its foreign-data wrappers for
    /// the set's servers. No TRIGGER, no ownership: nothing the restore
    /// role gets lets it run code as the admin.
    fn hand_over(&self, client: &mut Client, name: &str) -> Result<()> {
        let role = guard::quote_ident(&self.restore_role);
        let grants: Vec<String> = client
            .query(
                "SELECT pg_catalog.format('GRANT SELECT, INSERT ON TABLE %s TO ', c.oid::pg_catalog.regclass) \
                 FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) AS x(config) \
                 JOIN pg_catalog.pg_class c ON c.oid = x.config WHERE e.extname = $1 AND c.relkind = 'r' \
                 UNION ALL SELECT pg_catalog.format('GRANT USAGE ON FOREIGN DATA WRAPPER %I TO ', w.fdwname) \
                 FROM pg_catalog.pg_foreign_data_wrapper w JOIN pg_catalog.pg_depend d \
                   ON d.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND d.objid = w.oid AND d.deptype = 'e' \
                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
                 WHERE e.extname = $1",
                &[&name],
            )
            .context("reading what an extension gives the restore")?
            .iter()
            .map(|r| format!("{}{role}", r.get::<_, String>(0)))
            .collect();
        for grant in grants {
            client
                .batch_execute(&grant)
                .with_context(|| format!("letting the restore role use extension {name}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str) -> Vec<Token> {
        guard::split(sql).unwrap().remove(0).tokens
    }

    #[test]
    fn only_the_create_extension_lifeboat_writes_is_the_admins() {
        assert_eq!(
            create_extension(&tokens("CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;")),
            Some(("postgis".into(), "public".into()))
        );
        assert_eq!(
            create_extension(&tokens(
                "CREATE EXTENSION IF NOT EXISTS \"Odd\"\"x\" WITH SCHEMA \"my schema\";"
            )),
            Some(("Odd\"x".into(), "my schema".into()))
        );
        for other in [
            "CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public CASCADE;",
            "CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public VERSION '1.0';",
            "CREATE EXTENSION IF NOT EXISTS postgis;",
            "CREATE EXTENSION postgis WITH SCHEMA public;",
        ] {
            assert_eq!(create_extension(&tokens(other)), None, "{other}");
        }
        assert_eq!(
            comment_on_extension(&tokens("COMMENT ON EXTENSION postgis IS 'it''s geometry';")),
            Some(("postgis".into(), "it's geometry".into()))
        );
        assert_eq!(
            comment_on_extension(&tokens("COMMENT ON EXTENSION postgis IS NULL;")),
            None
        );
    }
}
