"""Five JSON schemas and twenty prompts for structured-output tests: nested objects, arrays, enums, required fields,
numbers with bounds. Strings and arrays are bounded so a small model's answer always fits its token budget."""

from __future__ import annotations

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 24}, "country": {"type": "string", "maxLength": 24}},
            "required": ["city", "country"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "address"],
    "additionalProperties": False,
}
SHOPPING = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 1, "maxItems": 4}},
    "required": ["items"],
    "additionalProperties": False,
}
SENTIMENT = {
    "type": "object",
    "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}, "confidence": {"enum": ["low", "medium", "high"]}},
    "required": ["sentiment", "confidence"],
    "additionalProperties": False,
}
MOVIE = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
        "genre": {"type": "string", "maxLength": 20},
        "sequel": {"type": "boolean"},
    },
    "required": ["title", "year", "genre"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "object",
    "properties": {
        "temperature_c": {"type": "number", "minimum": -50, "maximum": 60},
        "humidity_percent": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["temperature_c", "humidity_percent"],
    "additionalProperties": False,
}

CASES = [
    (PERSON, "Describe Marie Curie: her name and the city and country she worked in."),
    (PERSON, "Give a fictional person's name and home address."),
    (PERSON, "Who wrote Don Quixote, and where did he live?"),
    (PERSON, "Describe the inventor Alexander Graham Bell and where he was born."),
    (SHOPPING, "List what I need to bake a cake."),
    (SHOPPING, "I need coffee, soda and eggs. Make my shopping list."),
    (SHOPPING, "What should I pack for a day at the beach?"),
    (SHOPPING, "Name some fruits for a fruit salad."),
    (SENTIMENT, "How does this review feel: 'I loved every minute of this film!'"),
    (SENTIMENT, "How does this review feel: 'The food was cold and the waiter was rude.'"),
    (SENTIMENT, "How does this sentence feel: 'The meeting is at 3 pm.'"),
    (SENTIMENT, "How does this review feel: 'Best purchase I have made all year.'"),
    (MOVIE, "Tell me about the movie Titanic."),
    (MOVIE, "Describe a famous science fiction film."),
    (MOVIE, "Tell me about The Godfather."),
    (MOVIE, "Recommend an animated movie for children."),
    (WEATHER, "What is the weather like in a hot desert at noon?"),
    (WEATHER, "Report the weather on a rainy day in London."),
    (WEATHER, "Give the weather in Oslo in winter."),
    (WEATHER, "What is a comfortable spring day like in Paris?"),
]
