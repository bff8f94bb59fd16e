package lakehouse.jvm;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * One landing line -> its Segment records, in a single streaming pass over the text.
 *
 * <p>Returns a row {@code (reason, batch, sentAt, writeKey, receivedAt, records)}: {@code reason}
 * says why the whole line cannot be read ({@code invalid_json}, {@code not_an_object}, {@code
 * invalid_envelope}, {@code empty_batch}) and is null otherwise; {@code batch} says the line is a
 * {@code {"batch": [...]}} envelope, whose {@code sentAt}, {@code writeKey} and {@code receivedAt}
 * follow. {@code records} holds one row per message: the members of a batch envelope, each with
 * its exact text in {@code raw} (null for a JSON null), or the line's own message (with {@code raw}
 * null: the caller has the line). A member that is not an object gets {@code not_an_object} in
 * its own {@code reason}; a line that cannot be read has no records.
 *
 * <p>Registered by {@code bronze.envelope}; the row's Spark type is {@code PARSED_LINE} there.
 *
 * <p>Envelope fields are read as text: a JSON string as its value, null as null, any other value
 * (a numeric userId, say) as its exact text in the line. (Spark's {@code from_json} into a string
 * field gives the same except for numbers and nesting, which it re-serialises: {@code 1e3} becomes
 * {@code 1000.0}.) The reader
 * accepts what Spark's JSON reader accepts by default (single quotes, NaN and Infinity), and a line
 * must hold exactly one JSON value.
 */
public final class SegmentLines implements UDF1<String, Row> {
  private static final long serialVersionUID = 1L;

  static final String[] FIELDS = {
    "messageId", "type", "event", "userId", "anonymousId", "previousId", "groupId",
    "timestamp", "sentAt", "originalTimestamp", "receivedAt", "writeKey"
  };
  private static final Map<String, Integer> INDEX = new HashMap<>();
  private static final int SENT_AT = 8;
  private static final int RECEIVED_AT = 10;
  private static final int WRITE_KEY = 11;

  static {
    for (int i = 0; i < FIELDS.length; i++) {
      INDEX.put(FIELDS[i], i);
    }
  }

  private static final JsonFactory FACTORY =
      JsonFactory.builder()
          .enable(JsonReadFeature.ALLOW_SINGLE_QUOTES)
          .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
          .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
          .build();

  @Override
  public Row call(String line) {
    if (line == null) {
      return lineRow("invalid_json", null, Collections.emptyList());
    }
    try (JsonParser parser = FACTORY.createParser(line)) {
      return parseLine(parser, line);
    } catch (JsonProcessingException e) {
      return lineRow("invalid_json", null, Collections.emptyList());
    } catch (IOException e) {
      throw new IllegalStateException("reading a string cannot fail with I/O", e);
    }
  }

  private static Row parseLine(JsonParser parser, String line) throws IOException {
    JsonToken token = parser.nextToken();
    if (token == null) {
      return lineRow("invalid_json", null, Collections.emptyList());
    }
    if (token != JsonToken.START_OBJECT) {
      parser.skipChildren();
      return finish(parser, "not_an_object", null, Collections.emptyList());
    }
    String[] own = new String[FIELDS.length];
    List<Row> members = null;
    boolean badBatch = false;
    while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
      String name = parser.currentName();
      token = parser.nextToken();
      Integer index = INDEX.get(name);
      if (index != null) {
        own[index] = text(parser, token, line);
      } else if ("batch".equals(name)) {
        if (token == JsonToken.START_ARRAY) {
          members = parseMembers(parser, line);
          badBatch = false;
        } else {
          members = null;
          badBatch = token != JsonToken.VALUE_NULL;
          parser.skipChildren();
        }
      } else {
        parser.skipChildren();
      }
    }
    if (badBatch) {
      return finish(parser, "invalid_envelope", null, Collections.emptyList());
    }
    if (members == null) {
      return finish(parser, null, null, Collections.singletonList(record(null, null, own)));
    }
    return finish(parser, members.isEmpty() ? "empty_batch" : null, own, members);
  }

  private static List<Row> parseMembers(JsonParser parser, String line) throws IOException {
    List<Row> members = new ArrayList<>();
    JsonToken token;
    while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
      int start = (int) parser.currentTokenLocation().getCharOffset();
      if (token == JsonToken.VALUE_NULL) {
        members.add(record(null, null, new String[FIELDS.length]));
      } else if (token == JsonToken.START_OBJECT) {
        String[] fields = new String[FIELDS.length];
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          Integer index = INDEX.get(parser.currentName());
          JsonToken value = parser.nextToken();
          if (index != null) {
            fields[index] = text(parser, value, line);
          } else {
            parser.skipChildren();
          }
        }
        members.add(record(slice(parser, line, start), null, fields));
      } else {
        skipValue(parser);
        members.add(record(slice(parser, line, start), "not_an_object", new String[FIELDS.length]));
      }
    }
    return members;
  }

  /** Moves past the current value: its children, or the rest of a scalar's text. */
  private static void skipValue(JsonParser parser) throws IOException {
    parser.skipChildren();
    parser.finishToken();
  }

  /** The text from {@code start} to the end of the current token. */
  private static String slice(JsonParser parser, String line, int start) {
    return line.substring(start, (int) parser.currentLocation().getCharOffset());
  }

  /** A field's value as text: a string's value, or any other value's exact text. */
  private static String text(JsonParser parser, JsonToken token, String line) throws IOException {
    if (token == JsonToken.VALUE_STRING) {
      return parser.getText();
    }
    if (token == JsonToken.VALUE_NULL) {
      return null;
    }
    int start = (int) parser.currentTokenLocation().getCharOffset();
    skipValue(parser);
    return slice(parser, line, start);
  }

  /** Checks that nothing but whitespace follows the line's value, then builds the result. */
  private static Row finish(JsonParser parser, String reason, String[] envelope, List<Row> records)
      throws IOException {
    if (parser.nextToken() != null) {
      return lineRow("invalid_json", null, Collections.emptyList());
    }
    return lineRow(reason, envelope, reason == null ? records : Collections.emptyList());
  }

  private static Row lineRow(String reason, String[] envelope, List<Row> records) {
    return RowFactory.create(
        reason,
        envelope != null,
        envelope == null ? null : envelope[SENT_AT],
        envelope == null ? null : envelope[WRITE_KEY],
        envelope == null ? null : envelope[RECEIVED_AT],
        records);
  }

  private static Row record(String raw, String reason, String[] fields) {
    Object[] values = new Object[FIELDS.length + 2];
    values[0] = raw;
    values[1] = reason;
    System.arraycopy(fields, 0, values, 2, FIELDS.length);
    return RowFactory.create(values);
  }
}
