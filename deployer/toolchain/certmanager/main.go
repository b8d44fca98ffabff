// Command cert-manager-controller runs cert-manager's controllers as a process
// outside the cluster, for the project's local Kubernetes target.
//
// cert-manager's own controller entry point lives in a module the Go module
// proxy does not serve, and it links the Venafi issuer, whose module the proxy
// refuses. This entry point links the unmodified cert-manager module and
// registers only the controllers the local target needs: Issuers and
// ClusterIssuers of the selfSigned and CA kinds, the Certificate lifecycle,
// the CertificateRequest approver and the ingress shim. ACME, Vault and Venafi
// are left out on purpose: they would dial addresses off this machine.
//
// The module path sits under github.com/cert-manager/cert-manager so that the
// Go toolchain lets it import that module's internal packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Every imported controller registers itself with controller.Known(); what
	// is imported here is exactly what runs.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig               string
	clusterResourceNamespace string
	leaderElect              bool
	metricsAddress           string
	healthAddress            string
	workers                  int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig of the API server (required)")
	flag.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager",
		"namespace holding the Secrets that ClusterIssuers refer to")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "accepted for the chart's flag set; only false is supported")
	flag.StringVar(&o.metricsAddress, "metrics-listen-address", "127.0.0.1:9402", "host:port of the Prometheus metrics endpoint")
	flag.StringVar(&o.healthAddress, "internal-healthz-listen-address", "127.0.0.1:9403",
		"host:port serving /livez and /readyz (ready once the informer caches are synced)")
	flag.IntVar(&o.workers, "concurrent-workers", 5, "workers per controller")
	klog.InitFlags(flag.CommandLine)
	flag.Parse()
	return o
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, o); err != nil {
		logf.Log.Error(err, "cert-manager controller failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func checkOptions(o options) error {
	if o.kubeconfig == "" {
		return errors.New("--kubeconfig is required: this controller runs outside the cluster")
	}
	if o.leaderElect {
		return errors.New("--leader-elect=true is not supported: run a single instance")
	}
	for name, address := range map[string]string{"--metrics-listen-address": o.metricsAddress, "--internal-healthz-listen-address": o.healthAddress} {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", name, address, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%s=%q: only a loopback IP address may be bound", name, address)
		}
	}
	return nil
}

func contextOptions(o options) controller.ContextOptions {
	// The ACME HTTP-01 solver quantities are parsed by the context even though
	// no ACME controller runs; these are cert-manager's defaults.
	return controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: o.clusterResourceNamespace,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
			HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
			HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
			HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		CertificateOptions: controller.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: 60},
	}
}

func serve(ctx context.Context, g *errgroup.Group, address string, handler http.Handler) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", address, err)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return server.Shutdown(shutdown) //nolint:contextcheck
	})
	g.Go(func() error {
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

func run(parent context.Context, o options) error {
	if err := checkOptions(o); err != nil {
		return err
	}
	log := logf.FromContext(parent)
	g, ctx := errgroup.WithContext(parent)

	factory, err := controller.NewContextFactory(ctx, contextOptions(o))
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	base.Metrics.SetupCertificateCollector(base.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	base.Metrics.SetupIssuerCollector(base.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	base.Metrics.SetupClusterIssuerCollector(base.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())

	var ready atomic.Bool
	health := http.NewServeMux()
	health.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	health.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	metricsLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.metricsAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.metricsAddress, err)
	}
	metricsServer := base.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdown) //nolint:contextcheck
	})
	g.Go(func() error {
		if err := metricsServer.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if err := serve(ctx, g, o.healthAddress, health); err != nil {
		return err
	}

	known := controller.Known()
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, name)
	}
	sort.Strings(names)
	log.Info("starting controllers", "controllers", names, "clusterResourceNamespace", o.clusterResourceNamespace)
	for _, name := range names {
		iface, err := known[name](factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		g.Go(func() error { return iface.Run(o.workers, ctx) })
	}

	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	g.Go(func() error {
		for what, synced := range base.SharedInformerFactory.WaitForCacheSync(ctx.Done()) {
			if !synced {
				return fmt.Errorf("informer for %v did not sync", what)
			}
		}
		for what, synced := range base.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done()) {
			if !synced {
				return fmt.Errorf("informer for %s did not sync", what)
			}
		}
		ready.Store(true)
		log.Info("informer caches synced; ready")
		return nil
	})

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("controllers stopped")
	return nil
}
