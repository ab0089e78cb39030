package fleet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// httpClient reads the replicas' status pages, one block's each: small,
// but the replicas may be saturated.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// groupStatus is what the benchmark reads of a block's fleet on the status
// page (package fleet's GroupStatus).
type groupStatus struct {
	Mode     string `json:"mode"`
	Replicas []struct {
		Identity string `json:"identity"`
		Fresh    bool   `json:"fresh"`
	} `json:"replicas"`
	Lease struct {
		Writes int64 `json:"writes"` // successful writes of the replica's Lease
		Bytes  int   `json:"bytes"`  // its size at the last write
	} `json:"lease"`
}

// fleetStatus returns the fleet of the block of name on r's status page:
// nil without fleet, an error while the page does not answer.
func (r *replica) fleetStatus(name string) (*groupStatus, error) {
	resp, err := httpClient.Get("http://" + r.status + "/status?name=" + name)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status page: %s", resp.Status)
	}
	var doc struct {
		Names []struct {
			Fleet *groupStatus `json:"fleet"`
		} `json:"names"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	if len(doc.Names) != 1 {
		return nil, fmt.Errorf("status page: %d names for %s", len(doc.Names), name)
	}
	return doc.Names[0].Fleet, nil
}

// shared says whether g shares with every other replica of the fleet.
func (g *groupStatus) shared(others int) bool {
	fresh := 0
	for _, p := range g.Replicas {
		if p.Fresh {
			fresh++
		}
	}
	return g.Mode == "shared" && fresh == others
}

// fewestVotes returns the fewest votes, up and down, that an endpoint of the
// block of name has on r's status page: each fresh replica that observes it
// gives it one.
func (r *replica) fewestVotes(name string) (int, error) {
	resp, err := httpClient.Get("http://" + r.status + "/status?name=" + name)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status page: %s", resp.Status)
	}
	var doc struct {
		Names []struct {
			Pools []struct {
				Endpoints []struct {
					Fleet *struct {
						Up   int `json:"up"`
						Down int `json:"down"`
					} `json:"fleet"`
				} `json:"endpoints"`
			} `json:"pools"`
		} `json:"names"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return 0, err
	}
	if len(doc.Names) != 1 {
		return 0, fmt.Errorf("status page: %d names for %s", len(doc.Names), name)
	}
	fewest := -1
	for _, p := range doc.Names[0].Pools {
		for _, e := range p.Endpoints {
			votes := 0
			if e.Fleet != nil {
				votes = e.Fleet.Up + e.Fleet.Down
			}
			if fewest < 0 || votes < fewest {
				fewest = votes
			}
		}
	}
	if fewest < 0 {
		return 0, fmt.Errorf("status page: no endpoint for %s", name)
	}
	return fewest, nil
}
