//! What the services share of a run's life, so that no service depends on another:
//!
//! * [`chunks`] — how a run's documents are split and the jobs that hand them to the workers;
//! * [`ai`] — handing a run to the ai-resolver;
//! * [`cache::OnceCache`] — the bounded caches every worker keeps of what is costly to build and
//!   the same for every chunk (reference indexes, compiled policies, lookup tables): built once,
//!   shared, the least recently used dropped first;
//! * [`realtime`] — the request and reply of a real-time match (one document, no run);
//! * [`resolution`] — a resolution run's policy compiled from its snapshot, the lookup tables it
//!   names, and the policy run over a chunk of documents (the resolution worker's chunks and the
//!   ai-resolver's second pass both go through it).

pub mod ai;
pub mod cache;
pub mod chunks;
pub mod engine;
pub mod realtime;
pub mod resolution;
