//! Loads the configuration: built-in defaults, then the TOML file (if any), then environment
//! variables `NATTER__SECTION__KEY` (for example `NATTER__SERVER__LISTEN=0.0.0.0:8080`,
//! `NATTER__BACKENDS__MESSAGES=cassandra`), then command-line flags. Later sources win.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use natter_server::ServerConfig;

/// The merged configuration; unknown keys and bad values are errors naming the key.
pub fn load(file: Option<&Path>) -> anyhow::Result<ServerConfig> {
    load_from(file, Env::prefixed("NATTER__").split("__"))
}

fn load_from(file: Option<&Path>, env: Env) -> anyhow::Result<ServerConfig> {
    let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
    if let Some(file) = file {
        if !file.exists() {
            anyhow::bail!("config file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file(file));
    }
    let config: ServerConfig = figment
        .merge(env)
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(config)
}

/// The configuration as TOML (what `natter config` prints).
pub fn to_toml(config: &ServerConfig) -> anyhow::Result<String> {
    Ok(toml::to_string(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::value::{Dict, Value};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../natter.example.toml");

    /// Every key of the configuration, with its default value, as a nested dictionary.
    fn defaults() -> Dict {
        Figment::from(Serialized::defaults(ServerConfig::default()))
            .extract()
            .unwrap()
    }

    /// The example file documents every key with its default, and nothing else.
    #[test]
    fn example_file_lists_every_key_with_its_default() {
        let example: Dict = Figment::from(Toml::file(EXAMPLE)).extract().unwrap();
        let defaults = defaults();
        for (section, keys) in &defaults {
            let Value::Dict(_, keys) = keys else {
                panic!("top-level key {section} is not a section")
            };
            let Some(Value::Dict(_, documented)) = example.get(section) else {
                panic!("natter.example.toml lacks the [{section}] section")
            };
            for (key, value) in keys {
                let documented = documented
                    .get(key)
                    .unwrap_or_else(|| panic!("natter.example.toml lacks {section}.{key}"));
                assert_eq!(
                    documented.deserialize::<serde_json::Value>().unwrap(),
                    value.deserialize::<serde_json::Value>().unwrap(),
                    "{section}.{key} in natter.example.toml differs from the default"
                );
            }
            for key in documented_keys(&example, section) {
                assert!(
                    keys.contains_key(&key),
                    "natter.example.toml documents {section}.{key}, which does not exist"
                );
            }
        }
        for section in example.keys() {
            assert!(
                defaults.contains_key(section),
                "unknown section [{section}]"
            );
        }
    }

    fn documented_keys(example: &Dict, section: &str) -> Vec<String> {
        match example.get(section) {
            Some(Value::Dict(_, keys)) => keys.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn example_file_loads() {
        // In a jail: other tests set NATTER__ variables while they run.
        figment::Jail::expect_with(|_| {
            let config = load(Some(Path::new(EXAMPLE))).unwrap();
            config.validate().unwrap();
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "natter.toml",
                "[server]\nnode_id = 3\n[backends]\nmessages = \"postgres\"\naccounts = \"postgres\"\n",
            )?;
            jail.set_env("NATTER__SERVER__NODE_ID", "7");
            jail.set_env("NATTER__LIMITS__SENDS_PER_SECOND", "99");
            let config = load(Some(Path::new("natter.toml"))).unwrap();
            assert_eq!(config.server.node_id, 7);
            assert_eq!(config.limits.sends_per_second, 99);
            assert_eq!(
                config.backends.messages,
                natter_server::config::MessagesBackend::Postgres
            );

            jail.set_env("NATTER__LIMITS__SENDS_PER_SECONDS", "5");
            let err = load(None).unwrap_err().to_string();
            assert!(err.contains("sends_per_seconds"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn wrong_types_and_impossible_combinations_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[server]\nnode_id = \"three\"\n")?;
            assert!(load(Some(Path::new("bad.toml"))).is_err());
            jail.create_file(
                "mixed.toml",
                "[backends]\naccounts = \"sqlite\"\nmessages = \"cassandra\"\n",
            )?;
            let config = load(Some(Path::new("mixed.toml"))).unwrap();
            assert!(config.validate().is_err());
            Ok(())
        });
    }

    #[test]
    fn natter_config_never_prints_the_s3_secret() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("NATTER__FILES__S3_SECRET_ACCESS_KEY", "hunter2-s3-secret");
            let config = load(None).unwrap();
            assert_eq!(
                config.files.s3_secret_access_key.expose(),
                "hunter2-s3-secret"
            );
            let printed = to_toml(&config).unwrap();
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("s3_secret_access_key = \"<redacted>\""));
            assert!(!format!("{config:?}").contains("hunter2"));
            Ok(())
        });
    }
}
