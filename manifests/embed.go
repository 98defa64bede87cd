// Package manifests embeds the manifests an admin applies, so that tools which create
// the same objects (tensilectl join) take their rules and arguments from these files
// instead of a copy that would drift from them.
package manifests

import "embed"

// VirtualNode holds manifests/virtual-node: deployment.yaml (the virtual node's
// Deployment in the upper cluster), rbac-upper.yaml and rbac-lower.yaml.
//
//go:embed virtual-node/*.yaml
var VirtualNode embed.FS
