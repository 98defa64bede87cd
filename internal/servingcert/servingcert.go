// Package servingcert serves a TLS key pair kept in files and picks up a rotated pair
// (for instance cert-manager renewing a mounted Secret) without a restart. It is the one
// mechanism of this module's HTTPS servers that serve given files, the webhook and the
// virtual node's kubelet API, and it is k8s.io/apiserver's dynamiccertificates, as in
// kube-apiserver: the files are watched (fsnotify, and re-read every minute in case a
// watch is lost), and a pair that does not load leaves the last good one served.
package servingcert

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// Files serves the key pair of a certificate file and a key file.
type Files struct {
	content    *dynamiccertificates.DynamicCertKeyPairContent
	controller *dynamiccertificates.DynamicServingCertificateController
	base       *tls.Config
	runOnce    sync.Once
}

// New loads certFile and keyFile, failing when they are unusable, and returns Files
// that serve them with the settings of base (versions, client authentication, ALPN).
// purpose names the pair in logs. The files are reloaded only while Run runs.
func New(purpose, certFile, keyFile string, base *tls.Config) (*Files, error) {
	content, err := dynamiccertificates.NewDynamicServingContentFromFiles(purpose, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate %s, %s: %w", certFile, keyFile, err)
	}
	base = base.Clone()
	controller := dynamiccertificates.NewDynamicServingCertificateController(base, nil, content, nil, nil)
	content.AddListener(controller)
	if err := controller.RunOnce(); err != nil {
		return nil, fmt.Errorf("serving certificate %s, %s: %w", certFile, keyFile, err)
	}
	return &Files{content: content, controller: controller, base: base}, nil
}

// TLSConfig returns the server's TLS configuration: base's settings, with the pair
// loaded last handed out per connection.
func (f *Files) TLSConfig() *tls.Config {
	cfg := f.base.Clone()
	cfg.GetConfigForClient = f.controller.GetConfigForClient
	return cfg
}

// Current returns the pair served now.
func (f *Files) Current() (*tls.Certificate, error) {
	certPEM, keyPEM := f.content.CurrentCertKeyContent()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("serving certificate %s: %w", f.content.Name(), err)
	}
	return &pair, nil
}

// Run watches the files and reloads them until ctx is done. Calling it again does
// nothing.
func (f *Files) Run(ctx context.Context) {
	f.runOnce.Do(func() {
		go f.content.Run(ctx, 1)
		go f.controller.Run(1, ctx.Done())
	})
}
