// Package seed fills a sandbox with what a production cluster under an incident looks like:
// three team namespaces with Deployments (hence ReplicaSets and Pods) that write logs, and a
// Service in front of the payments API.
package seed

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// workload is one Deployment of the seed.
type workload struct {
	namespace string
	name      string
	replicas  int32
	command   []string // nil: the built-in HTTP server
	ports     []int32
}

func logLoop(script string) []string { return []string{"sh", "-c", script} }

var workloads = []workload{
	{namespace: "payments", name: "payments-api", replicas: 2, ports: []int32{8080}},
	{namespace: "payments", name: "payments-worker", replicas: 1, command: logLoop(
		`i=0; while true; do i=$((i+1)); echo "processed payment txn-$i amount=$((i*7%500)).00 EUR"; ` +
			`[ $((i%10)) -eq 0 ] && echo "WARN slow ledger write txn-$i took 812ms" >&2; sleep 1; done`)},
	{namespace: "checkout", name: "checkout-web", replicas: 2, ports: []int32{8080}},
	{namespace: "checkout", name: "checkout-cart", replicas: 1, command: logLoop(
		`i=0; while true; do i=$((i+1)); echo "cart cart-$i checked out items=$((i%5+1))"; sleep 2; done`)},
	{namespace: "ml-training", name: "trainer", replicas: 1, command: logLoop(
		`e=0; while true; do e=$((e+1)); echo "epoch $e step $((e*100)) loss 0.$((1000/(e+1))) lr 3e-4"; sleep 1; done`)},
}

// Run creates the seed objects (idempotent) and waits until every Deployment is available.
func Run(ctx context.Context, dir string, log io.Writer) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		return fmt.Errorf("reading %s/admin.kubeconfig (is the sandbox up?): %w", dir, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, ns := range []string{"payments", "checkout", "ml-training"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	for _, w := range workloads {
		if _, err := client.AppsV1().Deployments(w.namespace).Create(ctx, deployment(w), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating deployment %s/%s: %w", w.namespace, w.name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "payments-api", Namespace: "payments"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "payments-api"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := client.CoreV1().Services("payments").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating service payments/payments-api: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, w := range workloads {
		for {
			d, err := client.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
			if err == nil && d.Status.AvailableReplicas == w.replicas && d.Status.ObservedGeneration >= d.Generation {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("deployment %s/%s not available after 2m (err=%v)", w.namespace, w.name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Fprintf(log, "deployment %s/%s available (%d replicas)\n", w.namespace, w.name, w.replicas)
	}
	return nil
}

func deployment(w workload) *appsv1.Deployment {
	labels := map[string]string{"app": w.name}
	c := corev1.Container{Name: "app", Image: "registry.example/" + w.name + ":1.4.2", Command: w.command}
	for _, p := range w.ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: "http", ContainerPort: p})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(w.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{c},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
				},
			},
		},
	}
}
