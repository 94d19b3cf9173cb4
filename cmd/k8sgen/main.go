// Command k8sgen writes the generated part of k8s/ (see internal/k8sgen):
// 'make k8s' after changing dapr.yaml, config/secure/ or components/.
package main

import (
	"fmt"
	"os"

	"github.com/harmonia-music/harmonia/internal/k8sgen"
)

func main() {
	files, err := k8sgen.Generate(".")
	if err == nil {
		err = k8sgen.Write(".", files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8sgen:", err)
		os.Exit(1)
	}
	fmt.Printf("k8sgen: wrote %d files under k8s/\n", len(files))
}
