//! The topic-config table of `docs/configuration.md`, rendered from the registry. A test keeps
//! the file in step: `VLTAVA_UPDATE_DOCS=1 cargo test -p vltava-broker configs::docs` rewrites
//! the table when the registry or the implemented set changes.

use super::IMPLEMENTED_TOPIC_CONFIGS;
use super::registry::registry;

pub const BEGIN: &str =
    "<!-- BEGIN GENERATED: topic configs (crates/vltava-broker/src/configs/docs.rs) -->";
pub const END: &str = "<!-- END GENERATED: topic configs -->";

/// One row per topic config Kafka defines: type, default, valid values, the broker config that
/// sets its default, and whether vltava acts on it.
pub fn topic_table() -> String {
    let mut out = String::from(
        "| topic config | type | default | valid values | broker default from | vltava |\n|---|---|---|---|---|---|\n",
    );
    for def in registry().topic_configs().filter(|d| !d.internal) {
        let implemented = if IMPLEMENTED_TOPIC_CONFIGS.contains(&def.name.as_str()) {
            "takes effect"
        } else {
            "stored, described"
        };
        out.push_str(&format!(
            "| `{}` | {:?} | {} | {} | {} | {} |\n",
            def.name,
            def.kind,
            def.default
                .as_deref()
                .map_or("(none)".to_string(), |d| format!("`{d}`")),
            def.valid_text.replace('|', "\\|"),
            def.synonyms
                .first()
                .map_or(String::new(), |s| format!("`{s}`")),
            implemented,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::panic)]
    fn configuration_md_has_the_current_topic_config_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let text = std::fs::read_to_string(path).expect("docs/configuration.md");
        let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("docs/configuration.md lacks the generated-table markers");
        };
        let current = &text[start + BEGIN.len()..end];
        let wanted = format!("\n{}", topic_table());
        if current != wanted {
            if std::env::var_os("VLTAVA_UPDATE_DOCS").is_some() {
                let updated = format!("{}{}{}", &text[..start + BEGIN.len()], wanted, &text[end..]);
                std::fs::write(path, updated).expect("write docs/configuration.md");
            } else {
                panic!(
                    "docs/configuration.md is stale: run VLTAVA_UPDATE_DOCS=1 cargo test -p vltava-broker configs::docs"
                );
            }
        }
    }
}
