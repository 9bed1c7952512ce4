// Package deploy holds no code: its tests check the deployment files beside it.
//
//   - helm/bulkinvite, the Helm chart: its tests render it with helm (the binary
//     BULKINVITE_HELM names, else helm on PATH; without one they skip, or fail when
//     BULKINVITE_REQUIRE_HELM=1, as .ci/run sets it) and read the manifests: the
//     worker's command, probes, security context, grace period, and that every
//     secret comes from a Secret; and that its alert rules are docs/alerts.yaml's.
//   - compose.yaml, for Docker Compose: its test reads the file, since CI has no
//     container engine.
//
// How to deploy with either: docs/operations.md.
package deploy
