// Package names holds the first and last names the benchmarks' generated
// candidates are made of: realistic lengths, no randomness, so that every
// program measures with fields of the same shape.
package names

// First and Last are combined by index: candidate i is First[i%16] and
// Last[(i/16)%16].
var (
	First = []string{"Anna", "Bertrand", "Chiara", "Dmitri", "Elif", "Fatima", "Gustavo", "Hiroshi",
		"Ines", "Jonas", "Katarzyna", "Liam", "Mariana", "Nguyen", "Olusegun", "Priya"}
	Last = []string{"Andersson", "Bianchi", "Castillo", "Dubois", "Evans", "Fischer", "Garcia", "Hoffmann",
		"Ivanova", "Jensen", "Kowalski", "Lefebvre", "Moreau", "Nakamura", "Okafor", "Papadopoulos"}
)
