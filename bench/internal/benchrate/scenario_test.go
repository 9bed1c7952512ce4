package benchrate

import "testing"

func TestPickScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr bool
	}{
		{"all", "global,local,sandbox429,sandbox429-adaptive", ScenarioNames(), false},
		{"spaces and repeats", " local , local,global", []string{"local", "global"}, false},
		{"unknown", "global,nope", nil, true},
		{"empty", " , ", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PickScenarios(tt.list, 20, 5)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d scenarios, want %v", len(got), tt.want)
			}
			for i, s := range got {
				if s.Name != tt.want[i] {
					t.Errorf("scenario %d = %s, want %s", i, s.Name, tt.want[i])
				}
			}
		})
	}
	s, _ := NewScenario("sandbox429-adaptive", 20, 5)
	if s.Rate != 40 || s.SandboxRate != 20 || s.SandboxBurst != 5 || !s.Adaptive || s.Limiter != "global" {
		t.Errorf("sandbox429-adaptive = %+v", s)
	}
}
