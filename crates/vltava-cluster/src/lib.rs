//! The cluster's metadata, as Kafka's KRaft keeps it (KIP-500, KIP-631).
//!
//! The controller quorum appends `records` to the metadata log; every broker replays them, in
//! log order, into a [`MetadataDelta`] over its current [`MetadataImage`] and publishes the
//! next image. Readers hold an `Arc<MetadataImage>` and never a lock on a changing one (STYLE
//! rule 18, after Kafka's `org.apache.kafka.image`). An image can be written back out as the
//! records that rebuild it: that is the metadata snapshot, so restart time does not grow with
//! the cluster's age.
//!
//! Everything here is pure: no I/O, no clock, no networking.

pub mod acl;
pub mod controller;
pub mod delta;
pub mod image;
pub mod quorum;
pub mod quotas;
pub mod records;
pub mod scram;

pub use delta::{MetadataDelta, ReplayError};
pub use image::{BrokerRegistration, MetadataImage, PartitionRegistration, TopicImage};
pub use records::MetadataRecord;
