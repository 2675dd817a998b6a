package actors

import (
	"github.com/rivetkube/rivetkube/rivet"
)

// Score is one player's best score.
type Score struct {
	Player string `cbor:"player"`
	Score  int64  `cbor:"score"`
}

// Leaderboard limits.
const (
	MaxPlayerName = 256
	MaxTop        = 1000
)

// Leaderboard keeps every player's best score in its SQL database (c.DB())
// and nothing in its state: submit keeps the higher score, top lists the
// best by score (ties by player name), rank counts the players ahead.
var Leaderboard = rivet.New("leaderboard", rivet.Options[struct{}]{
	Migrate: []string{
		`CREATE TABLE scores (player TEXT PRIMARY KEY, score INTEGER NOT NULL) WITHOUT ROWID;
		 CREATE INDEX scores_by_score ON scores (score DESC, player)`,
	},
}).
	Action("submit", func(c *rivet.Ctx[struct{}], player string, score int64) (int64, error) {
		if player == "" || len(player) > MaxPlayerName {
			return 0, rivet.NewUserError("invalid_player", "player must be 1 to 256 bytes", nil)
		}
		var best int64
		err := c.DB().QueryRow(`INSERT INTO scores (player, score) VALUES (?, ?)
			ON CONFLICT (player) DO UPDATE SET score = max(score, excluded.score)
			RETURNING score`, player, score).Scan(&best)
		return best, err
	}).
	Action("top", func(c *rivet.Ctx[struct{}], n int) ([]Score, error) {
		if n < 1 || n > MaxTop {
			return nil, rivet.NewUserError("invalid_count", "n must be 1 to 1000", nil)
		}
		rows, err := c.DB().Query(`SELECT player, score FROM scores ORDER BY score DESC, player ASC LIMIT ?`, n)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := []Score{}
		for rows.Next() {
			var s Score
			if err := rows.Scan(&s.Player, &s.Score); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, rows.Err()
	}).
	Action("rank", func(c *rivet.Ctx[struct{}], player string) (int64, error) {
		var rank int64
		err := c.DB().QueryRow(`SELECT CASE WHEN best IS NULL THEN 0
				ELSE 1 + (SELECT count(*) FROM scores WHERE score > best) END
			FROM (SELECT (SELECT score FROM scores WHERE player = ?) AS best)`, player).Scan(&rank)
		return rank, err
	})
