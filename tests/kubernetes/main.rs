//! The Kubernetes deployment (deploy/kubernetes) and the collector, Jaeger and Prometheus
//! configuration it shares with docker-compose.production.yml, checked offline.
//!
//! No cluster runs where this suite runs, so nothing here applies a manifest. Instead:
//! - kubernetes-validate (PyPI, pinned in scripts/lib/common.sh, installed by scripts/test.sh)
//!   validates every manifest against the Kubernetes 1.33 API schemas it bundles, strictly: an
//!   unknown or misplaced field is an error, as with `kubectl apply --validate=strict`;
//! - the kustomization is read here rather than rendered: it may only set the namespace, list the
//!   manifests and generate ConfigMaps and Secrets (anything else fails a test), so each manifest
//!   as written is what the cluster gets, and the tests read the manifests directly. Where
//!   `kubectl` is on PATH, its built-in kustomize also renders the whole kustomization, and that
//!   output, the generated objects included, is validated too;
//! - the tests then check what the platform needs: probes, hardening, graceful stops, resources
//!   from the measured figures, the replica set, the secrets, and the trace pipeline from the
//!   services through both collector tiers to Jaeger and Prometheus.

//!
//! One file per story: `validity.rs` (the schemas and the kustomization), `secrets.rs`,
//! `services.rs` (probes, scaling, resources, hardening, references), `mongodb.rs` and
//! `trace_pipeline.rs`; `manifests.rs` reads the files for all of them.

mod manifests;
mod mongodb;
mod secrets;
mod services;
mod trace_pipeline;
mod validity;
