//! The `plugins.yaml` manifest of a plugin set: each plugin's module file,
//! weight, failure policy, limits, config, optional sha256 pin and profiles.

use crate::config::{ConfigError, PluginConfig, Where, check_header, check_plugins};
use serde::Deserialize;

/// The file (or ConfigMap key) that holds the manifest.
pub const MANIFEST_FILE: &str = "plugins.yaml";
/// The `kind` of a manifest.
pub const KIND: &str = "PluginSet";

/// A plugin set's manifest. The plugins are listed in filter order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Must be [`crate::config::API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// The plugins; `module` is required for each.
    pub plugins: Vec<PluginConfig>,
}

impl Manifest {
    /// Parses and checks a manifest; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            field,
            message,
        };
        let m: Manifest = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            source: Box::new(e),
        })?;
        check_header(&m.api_version, &m.kind, KIND)
            .map_err(|(field, message)| invalid(field.into(), message))?;
        if m.plugins.is_empty() {
            return Err(invalid("plugins".into(), "at least one is needed".into()));
        }
        check_plugins(&m.plugins, "plugins", Where::Manifest)
            .map_err(|(field, message)| invalid(field, message))?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
apiVersion: wasm-scheduler.io/v1alpha1
kind: PluginSet
plugins:
- name: Fit
  module: fit.wasm
  weight: 2
  sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  profiles: [wasm-scheduler]
";

    #[test]
    fn reads_module_pin_and_profiles() {
        let m = Manifest::parse(GOOD, "cm").unwrap();
        let p = &m.plugins[0];
        assert_eq!(p.module.as_deref(), Some(std::path::Path::new("fit.wasm")));
        assert_eq!(p.sha256.as_deref().map(str::len), Some(64));
        assert_eq!(p.profiles, Some(vec!["wasm-scheduler".to_string()]));
    }

    #[test]
    fn the_readme_example_is_valid() {
        let yaml = crate::config::readme_yaml("## Ship a plugin");
        let m = Manifest::parse(yaml, "README.md").unwrap();
        let names: Vec<&str> = m.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Gate", "NodeResourcesFit"]);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            ("  module: fit.wasm\n", "", "plugins[0].module: is required"),
            ("weight: 2", "wieght: 2", "unknown field `wieght`"),
            ("sha256: 0123", "sha256: zz23", "plugins[0].sha256"),
            ("kind: PluginSet", "kind: Set", "kind: \"Set\" is not"),
        ];
        for (from, to, want) in cases {
            let e = Manifest::parse(&GOOD.replace(from, to), "cm").expect_err(to);
            let text = crate::events::chain(&e);
            assert!(text.contains(want), "{to:?}: {text}");
        }
    }
}
