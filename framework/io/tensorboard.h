// TensorBoard scalar logs: an events.out.tfevents.<unix time>.<host>[.<run tag>] file of TFRecords
// (u64 length, masked CRC-32C of it, a serialized tensorflow.Event, masked CRC-32C of that).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace attn {

class EventWriter {
 public:
  // Creates `dir` if needed and a new event file in it whose first event is the file_version
  // "brain.Event:2". `run_tag` (e.g. "rank0") keeps writers started in the same second on the same
  // host apart; an existing name gets a numeric suffix instead of being overwritten.
  explicit EventWriter(const std::string& dir, const std::string& run_tag = "");
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One Event{wall_time, step, summary{value{tag, simple_value}}}. TensorBoard stores scalars as
  // float, so `value` is narrowed here. Buffered: call flush() to make it visible to readers.
  void scalar(const std::string& tag, int64_t step, double value);
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace attn
