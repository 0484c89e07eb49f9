// NEEDLE_QA (BABILong-style, bAbI "two/three supporting facts"): someone picks up an object and
// then goes to one or two places; distractor facts move and equip other people. All facts hide
// in haystack sentences; the question asks where the object is (where its holder went last).
// The names are rare enough in the Brown corpus that the haystack states no fact of its own.
#include <fmt/format.h>

#include <map>

#include "recipes/data/synthetic/task_common.h"

namespace attn::synthetic {

namespace {

constexpr const char* kPeople[] = {
    "Agatha", "Bertrand", "Cosima",    "Dmitri",  "Esmeralda", "Florian", "Griselda", "Horatio",
    "Isolde", "Jasper",   "Kunigunde", "Leopold", "Mirabel",   "Nikolai", "Ottilie",  "Percival"};
constexpr const char* kObjects[] = {"football", "apple",    "lantern", "violin",
                                    "compass",  "umbrella", "teapot",  "notebook",
                                    "hammer",   "kite",     "mirror",  "basket"};
constexpr const char* kPlaces[] = {"kitchen", "garden", "hallway", "bathroom", "bedroom", "office",
                                   "cellar",  "attic",  "library", "balcony",  "garage",  "pantry"};
template <typename T, size_t N>
constexpr size_t count(const T (&)[N]) {
  return N;
}

const char* pick(TaskRng& rng, const char* const* list, size_t n) {
  return list[rng.below(n)];
}

}  // namespace

SftExample needle_qa(const SyntheticOptions& o, DataSplit split, TaskRng& rng,
                     const Haystack& haystack) {
  std::string person, object;
  std::vector<std::string> places;
  for (;;) {  // the supporting facts; (person, object, answer) decides the split
    person = pick(rng, kPeople, count(kPeople));
    object = pick(rng, kObjects, count(kObjects));
    places = {pick(rng, kPlaces, count(kPlaces))};
    if (rng.below(2) == 1) {
      std::string second;
      do second = pick(rng, kPlaces, count(kPlaces));
      while (second == places[0]);
      places.push_back(second);
    }
    if (split_of(person + "|" + object + "|" + places.back()) == split) break;
  }
  std::vector<std::string> support{fmt::format("{} picked up the {}. ", person, object)};
  support.push_back(fmt::format("{} went to the {}. ", person, places[0]));
  if (places.size() > 1) support.push_back(fmt::format("{} moved to the {}. ", person, places[1]));
  std::vector<std::string> distractors;
  for (int d = 0; d < o.num_distractors; ++d) {
    std::string other;
    do other = pick(rng, kPeople, count(kPeople));
    while (other == person);
    if (rng.below(2) == 0) {
      distractors.push_back(
          fmt::format("{} went to the {}. ", other, pick(rng, kPlaces, count(kPlaces))));
    } else {
      std::string thing;
      do thing = pick(rng, kObjects, count(kObjects));
      while (thing == object);
      distractors.push_back(fmt::format("{} picked up the {}. ", other, thing));
    }
  }
  // Supporting facts keep their order; distractors fall anywhere between them.
  std::vector<std::string> facts;
  size_t s = 0, d = 0;
  while (s < support.size() || d < distractors.size()) {
    const uint64_t left = (support.size() - s) + (distractors.size() - d);
    if (rng.below(left) < support.size() - s)
      facts.push_back(support[s++]);
    else
      facts.push_back(distractors[d++]);
  }
  const std::string question = fmt::format("\nWhere is the {0}? The {0} is in the", object);
  const std::string response = " " + places.back() + ".";
  const int64_t budget =
      filler_budget(o, total_size(facts) + total_size({question, response}),
                    "the facts (data.synthetic.num_distractors) and the question");
  const std::string context =
      hide(rng, haystack_sentences(rng, haystack, budget), facts) + question;
  return make_example(context, response, "needle_qa", places.back(), split);
}

std::string check_needle_qa(const SftExample& e) {
  const std::string& c = e.runs[0].text;
  // The last fact of each kind in text order: who holds each object, where each person is.
  std::map<std::string, std::pair<size_t, std::string>> last_holder, last_place;
  for (const char* who : kPeople)
    for (const char* verb : {"picked up the ", "went to the ", "moved to the "}) {
      const std::string pat = std::string(who) + " " + verb;
      for (size_t at = c.find(pat); at != std::string::npos; at = c.find(pat, at + 1)) {
        const size_t w = at + pat.size(), end = c.find(". ", w);
        if (end == std::string::npos) continue;
        const std::string what = c.substr(w, end - w);
        if (verb[0] == 'p') {
          if (!last_holder.count(what) || last_holder[what].first < at)
            last_holder[what] = {at, who};
        } else if (!last_place.count(who) || last_place[who].first < at) {
          last_place[who] = {at, what};
        }
      }
    }
  const std::string q = "\nWhere is the ";
  const size_t at = c.rfind(q);
  if (at == std::string::npos) return "no question";
  const std::string object = c.substr(at + q.size(), c.find('?', at) - at - q.size());
  if (!last_holder.count(object)) return "nobody picked up the " + object;
  const std::string who = last_holder[object].second;
  if (!last_place.count(who)) return who + " never goes anywhere";
  const std::string answer = last_place[who].second;
  return e.runs[1].text == " " + answer + "." ? "" : "the response is not " + answer;
}

}  // namespace attn::synthetic
