package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// murmur2KeyCount is how many keys partitioner_murmur2 places: key-0..key-99.
const murmur2KeyCount = 100

// Murmur2Partitions is the partition count of partitioner_murmur2's topic.
const Murmur2Partitions = 12

// Murmur2Records are partitioner_murmur2's records: keys key-0..key-99, value "x".
func Murmur2Records() []Record {
	recs := make([]Record, murmur2KeyCount)
	for i := range recs {
		recs[i] = Record{Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte("x")}
	}
	return recs
}

// CheckMurmur2 checks every key landed where Java's murmur2 partitioner puts it: placed holds
// each record's key and partition (from the produce acknowledgement or read back).
func CheckMurmur2(e *Env, placed []Record) error {
	expected, err := expectedMurmur2(e)
	if err != nil {
		return err
	}
	if len(placed) != murmur2KeyCount {
		return fmt.Errorf("read back %d records, want %d", len(placed), murmur2KeyCount)
	}
	for _, r := range placed {
		want, ok := expected[string(r.Key)]
		if !ok {
			return fmt.Errorf("no expected partition for %s", r.Key)
		}
		if r.Partition != want {
			return fmt.Errorf("%s landed in partition %d, Java puts it in %d", r.Key, r.Partition, want)
		}
	}
	return nil
}

// expectedMurmur2 reads compat/expected/murmur2-12.json (key → Java partition of 12).
func expectedMurmur2(e *Env) (map[string]int32, error) {
	raw, err := os.ReadFile(filepath.Join(e.CompatDir, "expected", "murmur2-12.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]int32
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("murmur2-12.json: %w", err)
	}
	return m, nil
}
