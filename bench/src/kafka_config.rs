//! librdkafka client configuration shared by the producer and the consumer.

use anyhow::Context;
use rdkafka::ClientConfig;

/// Applies `KEY=VALUE` overrides given with `--set`; later ones win.
pub fn apply_overrides(config: &mut ClientConfig, overrides: &[String]) -> anyhow::Result<()> {
    for kv in overrides {
        let (key, value) = kv
            .split_once('=')
            .with_context(|| format!("--set expects KEY=VALUE, got '{kv}'"))?;
        config.set(key, value);
    }
    Ok(())
}
