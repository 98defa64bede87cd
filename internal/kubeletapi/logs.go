package kubeletapi

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// rawQueryKey keys the query of a containerLogs request in its context.
type rawQueryKey struct{}

// withRawQuery stores the query of a containerLogs request in ctx. api.ContainerLogOpts
// cannot carry tailLines=0 (it reads as "no limit") nor the stream parameter, so Handler
// hands the raw query down to GetContainerLogs this way.
func withRawQuery(ctx context.Context, q url.Values) context.Context {
	return context.WithValue(ctx, rawQueryKey{}, q)
}

// rawQueryFrom returns the query stored by withRawQuery, or nil.
func rawQueryFrom(ctx context.Context) url.Values {
	q, _ := ctx.Value(rawQueryKey{}).(url.Values)
	return q
}

// GetContainerLogs streams a container's logs from the lower cluster's pods/log
// subresource, passing on every option kubectl logs has: follow, previous, timestamps,
// sinceSeconds, sinceTime, tailLines, limitBytes and the container.
func (p *Proxy) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	lower, err := p.lowerName(ctx, namespace, podName)
	if err != nil {
		return nil, err
	}
	logOpts := podLogOptions(containerName, opts, rawQueryFrom(ctx))
	klog.FromContext(ctx).V(4).Info("Streaming logs from the lower cluster",
		"pod", klog.KRef(namespace, podName), "lowerPod", lower, "container", containerName, "follow", logOpts.Follow)
	rc, err := p.lower.CoreV1().Pods(lower.Namespace).GetLogs(lower.Name, logOpts).Stream(ctx)
	if err != nil {
		return nil, lowerError(err, fmt.Sprintf("logs of %s/%s container %s", namespace, podName, containerName))
	}
	return rc, nil
}

// podLogOptions builds the lower pods/log request from what virtual-kubelet parsed out of
// the kubelet query. raw is that query when Handler passed it down (it may be nil): it
// tells an explicit tailLines=0 from an absent one and carries the stream parameter.
func podLogOptions(container string, opts api.ContainerLogOpts, raw url.Values) *corev1.PodLogOptions {
	o := &corev1.PodLogOptions{
		Container:  container,
		Follow:     opts.Follow,
		Previous:   opts.Previous,
		Timestamps: opts.Timestamps,
	}
	if opts.SinceSeconds > 0 {
		o.SinceSeconds = ptr.To(int64(opts.SinceSeconds))
	}
	if !opts.SinceTime.IsZero() {
		t := metav1.NewTime(opts.SinceTime)
		o.SinceTime = &t
	}
	if opts.Tail > 0 || raw.Has("tailLines") {
		o.TailLines = ptr.To(int64(opts.Tail))
	}
	if opts.LimitBytes > 0 {
		o.LimitBytes = ptr.To(int64(opts.LimitBytes))
	}
	if s := raw.Get("stream"); s != "" {
		o.Stream = ptr.To(s)
	}
	return o
}
