//! Raft's cross-module tests: scenario files, randomized cluster properties and fuzzed input.
