//! End-to-end tests across the services (see `tests/`): the gateway's API with the matching and
//! resolution workers behind it, and the ai-resolver's pass after the resolution worker's. They
//! live here, outside `services/`, so that no service crate depends on another, not even for its
//! tests. The library is empty.
