// Package nodeagent stands in for the kubelet: it registers a Ready node, binds unscheduled pods
// to it, runs each container as a local process, reports pod status, and serves the kubelet API
// the apiserver proxies to (exec, attach, port-forward, container logs) with k8s.io/cri-streaming.
//
// Images are not pulled and processes are not isolated: this is the one simulated part of the
// sandbox, everything above it (apiserver, etcd, controllers, kubectl) is real.
package nodeagent

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// Config is how `sandbox node-agent` is started.
type Config struct {
	NodeName            string
	Kubeconfig          string // node identity (system:node:NAME)
	SchedulerKubeconfig string // scheduler identity, to bind pods to this node
	Port                int
	TLSCertFile         string
	TLSKeyFile          string
	ClientCAFile        string
	RootDir             string
	KubeletVersion      string
	// RefuseWebSocket makes the streaming endpoints answer WebSocket upgrades with 400, like a
	// kubelet that only speaks SPDY: with the apiserver's WebSocket translation off, the
	// apiserver passes kubectl's (or jitgate's) WebSocket upgrade through to it and relays the
	// refusal, so a client's SPDY fallback meets a real refusal.
	RefuseWebSocket bool
}

// Agent is the running node agent.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	sched  kubernetes.Interface
	self   string

	mu     sync.Mutex
	pods   map[types.UID]*pod
	nextIP atomic.Uint32
	logger *log.Logger
}

// Run starts the agent and blocks until ctx is done; then it stops every container.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	if err := a.registerNode(ctx); err != nil {
		return fmt.Errorf("registering node %s: %w", cfg.NodeName, err)
	}
	srv, err := a.serve(ctx)
	if err != nil {
		return err
	}
	go a.heartbeat(ctx)
	a.watchPods(ctx)
	<-ctx.Done()
	a.logf("shutting down: stopping containers")
	_ = srv.Close()
	a.stopAll()
	return nil
}

func newAgent(cfg Config) (*Agent, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mk := func(path string) (kubernetes.Interface, error) {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, err
		}
		rc.QPS, rc.Burst = 200, 400
		rc.UserAgent = "jitgate-sandbox-node-agent"
		return kubernetes.NewForConfig(rc)
	}
	client, err := mk(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	sched, err := mk(cfg.SchedulerKubeconfig)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.RootDir, "pgids"), 0o700); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, client: client, sched: sched, self: self, pods: map[types.UID]*pod{},
		logger: log.New(os.Stderr, "node-agent ", log.LstdFlags|log.Lmicroseconds)}, nil
}

func (a *Agent) logf(format string, args ...any) { a.logger.Printf(format, args...) }

// recordGroup keeps a file per live process group so `sandbox down` can kill leftovers.
func (a *Agent) recordGroup(pgid int, alive bool) {
	path := filepath.Join(a.cfg.RootDir, "pgids", strconv.Itoa(pgid))
	if alive {
		_ = os.WriteFile(path, nil, 0o600)
	} else {
		_ = os.Remove(path)
	}
}

func (a *Agent) nodeStatus() corev1.NodeStatus {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(strconv.Itoa(runtime.NumCPU())),
		corev1.ResourceMemory:           resource.MustParse("24Gi"),
		corev1.ResourcePods:             resource.MustParse("1000"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "sandbox node agent"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "sandbox node agent"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "sandbox node agent"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "sandbox node agent is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.cfg.Port)}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               "jitgate-sandbox",
			SystemUUID:              "jitgate-sandbox",
			BootID:                  strconv.FormatInt(time.Now().Unix(), 10),
			KernelVersion:           "local",
			OSImage:                 "jitgate sandbox (local processes)",
			ContainerRuntimeVersion: "sandbox://0.1.0",
			KubeletVersion:          a.cfg.KubeletVersion,
			KubeProxyVersion:        "",
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
}

func (a *Agent) registerNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.cfg.NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname":           a.cfg.NodeName,
				"kubernetes.io/os":                 runtime.GOOS,
				"kubernetes.io/arch":               runtime.GOARCH,
				"node.kubernetes.io/instance-type": "sandbox",
			},
		},
	}
	if _, err := a.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return a.updateNodeStatus(ctx)
}

func (a *Agent) updateNodeStatus(ctx context.Context) error {
	node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Status = a.nodeStatus()
	_, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node lease every 10 s and posts node status every 40 s, as kubelet does.
func (a *Agent) heartbeat(ctx context.Context) {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	renew := func() {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
			}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		} else if err == nil {
			lease.Spec.RenewTime = &now
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			a.logf("renewing node lease: %v", err)
		}
	}
	renew()
	leaseTick := time.NewTicker(10 * time.Second)
	statusTick := time.NewTicker(40 * time.Second)
	defer leaseTick.Stop()
	defer statusTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C:
			renew()
		case <-statusTick.C:
			if err := a.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				a.logf("posting node status: %v", err)
			}
		}
	}
}

// watchPods runs two informers: unscheduled pods (as the scheduler, to bind them here) and pods
// bound to this node (as the node, to run them).
func (a *Agent) watchPods(ctx context.Context) {
	unscheduled := informers.NewSharedInformerFactoryWithOptions(a.sched, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.SelectorFromSet(fields.Set{"spec.nodeName": ""}).String()
		}))
	unscheduled.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.bind(ctx, obj) },
		UpdateFunc: func(_, obj any) { a.bind(ctx, obj) },
	})
	mine := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.SelectorFromSet(fields.Set{"spec.nodeName": a.cfg.NodeName}).String()
		}))
	mine.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { a.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				a.forget(p.UID, 0)
			}
		},
	})
	unscheduled.Start(ctx.Done())
	mine.Start(ctx.Done())
}

func (a *Agent) bind(ctx context.Context, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
		return
	}
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		return
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName},
	}
	if err := a.sched.CoreV1().Pods(p.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		a.logf("binding %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// allocateIP gives each pod its own loopback address, 127.B.x.y. B comes from the kubelet port
// so that two sandboxes on one machine (the demo's and the tests') rarely share pod IPs.
func (a *Agent) allocateIP() string {
	n := a.nextIP.Add(1)
	base := byte(1 + a.cfg.Port%250)
	return net.IPv4(127, base, byte(n/250), byte(n%250+1)).String()
}

// sync makes the local processes match the pod spec.
func (a *Agent) sync(ctx context.Context, obj any) {
	spec, ok := obj.(*corev1.Pod)
	if !ok || spec.Spec.NodeName != a.cfg.NodeName {
		return
	}
	if spec.DeletionTimestamp != nil {
		grace := 30 * time.Second
		if spec.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*spec.DeletionGracePeriodSeconds) * time.Second
		}
		go a.terminate(ctx, spec, min(grace, 10*time.Second))
		return
	}
	if spec.Status.Phase == corev1.PodSucceeded || spec.Status.Phase == corev1.PodFailed {
		a.mu.Lock()
		_, known := a.pods[spec.UID]
		a.mu.Unlock()
		if !known {
			return // finished before this agent started; nothing to run
		}
	}
	a.mu.Lock()
	p, ok := a.pods[spec.UID]
	if !ok {
		p = &pod{
			uid: spec.UID, namespace: spec.Namespace, name: spec.Name,
			ip: a.allocateIP(), dir: filepath.Join(a.cfg.RootDir, string(spec.UID)),
			restart: spec.Spec.RestartPolicy, createdAt: time.Now(),
			containers: map[string]*container{}, agent: a,
		}
		p.changed = a.statusUpdater(ctx, p)
		a.pods[spec.UID] = p
	}
	a.mu.Unlock()

	p.mu.Lock()
	add := func(c corev1.Container, kind containerKind) {
		if _, exists := p.containers[c.Name]; exists {
			return
		}
		var ports []int32
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				ports = append(ports, port.ContainerPort)
			}
		}
		dir := filepath.Join(p.dir, c.Name)
		_ = os.MkdirAll(dir, 0o755)
		p.containers[c.Name] = &container{kind: kind, dir: dir, waitReason: "ContainerCreating", spec: containerSpec{
			Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: c.Env, WorkingDir: c.WorkingDir,
			Stdin: c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY, Ports: ports,
		}}
		if kind != ephemeralContainer {
			p.order = append(p.order, c.Name)
		}
	}
	for _, c := range spec.Spec.InitContainers {
		add(c, initContainer)
	}
	for _, c := range spec.Spec.Containers {
		add(c, regularContainer)
	}
	for _, ec := range spec.Spec.EphemeralContainers {
		add(corev1.Container(ec.EphemeralContainerCommon), ephemeralContainer)
	}
	p.mu.Unlock()
	a.kick(p)
}

// kick starts whatever may start now: init containers one by one, then the regular ones, and
// ephemeral containers whenever they appear.
func (a *Agent) kick(p *pod) {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return
	}
	var toStart []*container
	initPending := false
	for _, name := range p.order {
		c := p.containers[name]
		if c.kind != initContainer {
			continue
		}
		c.mu.Lock()
		switch {
		case c.current == nil:
			if !initPending {
				toStart = append(toStart, c)
			}
			initPending = true
		default:
			select {
			case <-c.current.exited:
				if c.current.exitCode != 0 {
					initPending = true // a failed init container blocks the pod
				}
			default:
				initPending = true
			}
		}
		c.mu.Unlock()
	}
	for _, c := range p.containers {
		c.mu.Lock()
		fresh := c.current == nil && c.previous == nil
		c.mu.Unlock()
		if !fresh {
			continue
		}
		if c.kind == ephemeralContainer || (c.kind == regularContainer && !initPending) {
			toStart = append(toStart, c)
		}
	}
	p.mu.Unlock()
	for _, c := range toStart {
		if err := p.start(c); err != nil {
			a.logf("starting %s/%s: %v", p.key(), c.spec.Name, err)
			p.changed()
		}
	}
}

// terminate stops a pod being deleted and then removes it, as kubelet's final delete does.
func (a *Agent) terminate(ctx context.Context, spec *corev1.Pod, grace time.Duration) {
	a.forget(spec.UID, grace)
	err := a.client.CoreV1().Pods(spec.Namespace).Delete(ctx, spec.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &spec.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.logf("deleting %s/%s: %v", spec.Namespace, spec.Name, err)
	}
}

func (a *Agent) forget(uid types.UID, grace time.Duration) {
	a.mu.Lock()
	p, ok := a.pods[uid]
	a.mu.Unlock()
	if !ok {
		return
	}
	p.stop(grace)
	a.mu.Lock()
	delete(a.pods, uid)
	a.mu.Unlock()
	_ = os.RemoveAll(p.dir)
}

func (a *Agent) stopAll() {
	a.mu.Lock()
	var all []*pod
	for _, p := range a.pods {
		all = append(all, p)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(3 * time.Second) }()
	}
	wg.Wait()
}

// findPod looks a pod up by namespace and name (and UID when the caller gave one).
func (a *Agent) findPod(namespace, name, uid string) (*pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.pods {
		if p.namespace == namespace && p.name == name && (uid == "" || string(p.uid) == uid) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s is not running on node %s", namespace, name, a.cfg.NodeName)
}
