//! Raft's cross-module tests: scenario files, randomized cluster properties and fuzzed input.

mod cluster;
mod fuzz;
mod interaction;
mod property;
